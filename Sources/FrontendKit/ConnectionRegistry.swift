package import BusCore
import NIOConcurrencyHelpers

/// A connection as the admin API lists it.
package struct ConnectionInfo: Sendable {
    package var id: String
    package var protocolName: String
    package var remoteAddress: String?
    package var userID: String?
    package var name: String?
    /// Seconds since the Unix epoch.
    package var connectedAt: Double
    package var subscriptions: [String]

    package init(
        id: String, protocolName: String, remoteAddress: String?, userID: String? = nil, name: String? = nil,
        connectedAt: Double, subscriptions: [String] = []
    ) {
        self.id = id
        self.protocolName = protocolName
        self.remoteAddress = remoteAddress
        self.userID = userID
        self.name = name
        self.connectedAt = connectedAt
        self.subscriptions = subscriptions
    }

    /// The presence entry for this connection.
    package var presence: PresenceInfo {
        PresenceInfo(
            clientID: id, userID: userID, name: name, protocolName: protocolName, connectedAt: connectedAt,
            remoteAddress: remoteAddress)
    }
}

/// Why the server closes a connection; each protocol maps it to its own close code.
package enum CloseReason: Sendable, Hashable {
    /// `DELETE /api/connections/{id}`.
    case administrative
    /// The server is shutting down.
    case shutdown
    /// The outbound buffer overflowed under the `disconnect` slow-consumer policy.
    case slowConsumer
    /// The client missed the keep-alive window.
    case keepAliveTimeout
}

/// A live connection as the registry controls it: told to close from any thread, it hops to its own
/// loop. (A protocol rather than a closure: one reference per connection, no captured context.)
package protocol ConnectionController: AnyObject, Sendable {
    func requestClose(_ reason: CloseReason)
}

/// Every live client connection of every protocol, for the admin API, limits and shutdown.
package final class ConnectionRegistry: Sendable {
    private struct Entry {
        var info: ConnectionInfo
        var controller: any ConnectionController
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    /// Most connections at once, across protocols.
    package let maxConnections: Int

    package init(maxConnections: Int) { self.maxConnections = maxConnections }

    /// Adds a connection; false when the limit is reached (the caller refuses the client).
    package func register(_ info: ConnectionInfo, controller: any ConnectionController) -> Bool {
        entries.withLockedValue { entries in
            guard entries.count < maxConnections else { return false }
            entries[info.id] = Entry(info: info, controller: controller)
            return true
        }
    }

    package func update(_ id: String, _ body: (inout ConnectionInfo) -> Void) {
        entries.withLockedValue { entries in
            guard var entry = entries[id] else { return }
            body(&entry.info)
            entries[id] = entry
        }
    }

    /// Forgets a connection; false when it was not registered.
    @discardableResult
    package func remove(_ id: String) -> Bool {
        entries.withLockedValue { $0.removeValue(forKey: id) != nil }
    }

    package var count: Int { entries.withLockedValue { $0.count } }

    package func list() -> [ConnectionInfo] {
        entries.withLockedValue { $0.values.map(\.info) }.sorted { $0.connectedAt < $1.connectedAt }
    }

    /// Asks one connection to close; false when there is no such connection.
    package func close(_ id: String, reason: CloseReason) -> Bool {
        guard let controller = entries.withLockedValue({ $0[id]?.controller }) else { return false }
        controller.requestClose(reason)
        return true
    }

    /// Asks every connection to close (shutdown).
    package func closeAll(reason: CloseReason) {
        for controller in entries.withLockedValue({ $0.values.map(\.controller) }) { controller.requestClose(reason) }
    }
}
