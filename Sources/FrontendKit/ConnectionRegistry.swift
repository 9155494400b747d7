package import BusCore
import Metrics
import NIOConcurrencyHelpers
package import NIOCore
import NIOHTTP1

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
    /// A connection on another instance took this one's client identifier (MQTT session takeover across
    /// instances, docs/redis.md).
    case takenOver
}

/// A live connection as the registry controls it: told to close from any thread, it hops to its own
/// loop. (A protocol rather than a closure: one reference per connection, no captured context.)
package protocol ConnectionController: AnyObject, Sendable {
    func requestClose(_ reason: CloseReason)
    /// Publisher flow control (`CongestedSubscriber`): the connection `subscriberID`, which this one's
    /// publishes feed, is behind (`paused`) or has caught up. A connection that can stop reading does so
    /// while any subscriber holds it paused; the default ignores it.
    func publishingPaused(_ paused: Bool, by subscriberID: String)
}

extension ConnectionController {
    package func publishingPaused(_ paused: Bool, by subscriberID: String) {}
}

/// The connection limits every protocol shares (config key `limits`), each a named setting.
package struct ConnectionLimits: Sendable, Equatable {
    /// Connections across all protocols (`max_connections`).
    package var maxConnections: Int
    /// Connections from one IP address across all protocols (`max_connections_per_ip`); 0 is no limit.
    package var maxConnectionsPerAddress: Int
    /// New connections accepted per second, server-wide (`max_connects_per_second`); 0 is no limit.
    /// A token bucket: up to one second's worth may arrive at once.
    package var maxConnectsPerSecond: Int

    package init(maxConnections: Int, maxConnectionsPerAddress: Int = 0, maxConnectsPerSecond: Int = 0) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.maxConnectsPerSecond = maxConnectsPerSecond
    }
}

/// Which limit refused a connection. Each protocol answers in its own way: HTTP 503 (total) or 429,
/// MQTT CONNACK 0x89 / 0x97 / 0x9F (3.1.1: 3), NATS -ERR 'maximum connections exceeded'.
package enum AdmissionRefusal: String, Sendable, CaseIterable {
    case total = "max_connections"
    case perAddress = "max_connections_per_ip"
    case rate = "max_connects_per_second"

    /// What the client is told.
    package func message(_ limits: ConnectionLimits) -> String {
        switch self {
        case .total: "connection limit (\(limits.maxConnections)) reached"
        case .perAddress: "too many connections from this address (\(limits.maxConnectionsPerAddress))"
        case .rate: "too many new connections (\(limits.maxConnectsPerSecond) per second)"
        }
    }
}

/// Every live client connection of every protocol, for the admin API, limits and shutdown.
package final class ConnectionRegistry: Sendable {
    /// A class, not a struct: the table then holds a key and one reference per bucket. A dictionary keeps
    /// a quarter to over half of its buckets empty (power-of-two capacity, ¾ maximum load), and with the
    /// ~160-byte entry stored inline that slack cost 240–290 B per idle connection at 3,000–10,000 of them
    /// (issue 25; the analysis in Benchmarks/analysis.md). Only touched under the registry's lock (hence `@unchecked Sendable`).
    private final class Entry: @unchecked Sendable {
        var info: ConnectionInfo
        let controller: any ConnectionController
        let address: String?
        /// The id its publishes carry when it is not the connection id (MQTT's client identifier).
        var publisherID: String?
        /// Its identity's roles and admin flag (`ConnectionLifecycle` keeps them current).
        var roles: [String] = []
        var isAdmin = false

        init(info: ConnectionInfo, controller: any ConnectionController, address: String?) {
            self.info = info
            self.controller = controller
            self.address = address
        }
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var perAddress: [String: Int] = [:]
        /// Publisher ids that are not connection ids → the connection publishing with it now.
        var publishers: [String: String] = [:]
        /// Publishers that are no connection of the registry's (an HTTP connection's `POST /api/publish`,
        /// `HTTPPublishingConnection`): found by their publisher id for publisher flow control only.
        var pausable: [String: any ConnectionController] = [:]
        /// Token bucket for the connect rate: tokens and when they were last topped up.
        var tokens: Double
        var refilledAt: UInt64
    }

    private let state: NIOLockedValueBox<State>
    private let claimObserver = NIOLockedValueBox<(@Sendable (String) -> Void)?>(nil)
    package let limits: ConnectionLimits
    /// Most connections at once, across protocols.
    package var maxConnections: Int { limits.maxConnections }
    private let clock: @Sendable () -> UInt64
    private let refusals: [AdmissionRefusal: Counter]

    package convenience init(maxConnections: Int) {
        self.init(limits: ConnectionLimits(maxConnections: maxConnections))
    }

    /// `clock`: monotonic nanoseconds (injected for tests).
    package init(
        limits: ConnectionLimits, clock: @escaping @Sendable () -> UInt64 = { NIODeadline.now().uptimeNanoseconds }
    ) {
        self.limits = limits
        self.clock = clock
        self.state = NIOLockedValueBox(State(tokens: Double(limits.maxConnectsPerSecond), refilledAt: clock()))
        var refusals: [AdmissionRefusal: Counter] = [:]
        for reason in AdmissionRefusal.allCases {
            refusals[reason] = Counter(
                label: "switchboard_connection_limit_refusals_total", dimensions: [("limit", reason.rawValue)])
        }
        self.refusals = refusals
    }

    /// Adds a connection; false when a limit refuses it (the caller refuses the client).
    package func register(_ info: ConnectionInfo, controller: any ConnectionController) -> Bool {
        admit(info, controller: controller) == nil
    }

    /// Adds a connection, or says which limit refuses it (counted in /metrics).
    package func admit(_ info: ConnectionInfo, controller: any ConnectionController) -> AdmissionRefusal? {
        let address = info.remoteAddress.map(Self.host)
        let refusal: AdmissionRefusal? = state.withLockedValue { state in
            if let refusal = check(&state, address: address) { return refusal }
            if limits.maxConnectsPerSecond > 0 { state.tokens -= 1 }
            if let address { state.perAddress[address, default: 0] += 1 }
            state.entries[info.id] = Entry(info: info, controller: controller, address: address)
            return nil
        }
        if let refusal { refusals[refusal]?.increment() }
        return refusal
    }

    /// Which limit would refuse a connection from `remoteAddress` now, without taking a slot (HTTP
    /// routes answer 429/503 before they start a stream).
    package func admissionRefusal(remoteAddress: String?) -> AdmissionRefusal? {
        let refusal = state.withLockedValue { check(&$0, address: remoteAddress.map(Self.host)) }
        if let refusal { refusals[refusal]?.increment() }
        return refusal
    }

    private func check(_ state: inout State, address: String?) -> AdmissionRefusal? {
        guard state.entries.count < limits.maxConnections else { return .total }
        if limits.maxConnectionsPerAddress > 0, let address,
            state.perAddress[address, default: 0] >= limits.maxConnectionsPerAddress
        {
            return .perAddress
        }
        if limits.maxConnectsPerSecond > 0 {
            let now = clock()
            let rate = Double(limits.maxConnectsPerSecond)
            state.tokens = min(rate, state.tokens + Double(now &- state.refilledAt) / 1e9 * rate)
            state.refilledAt = now
            if state.tokens < 1 { return .rate }
        }
        return nil
    }

    /// The host part of `ip:port` or `[ip]:port`.
    static func host(_ remote: String) -> String {
        if remote.hasPrefix("["), let close = remote.firstIndex(of: "]") {
            return String(remote[remote.index(after: remote.startIndex)..<close])
        }
        guard let colon = remote.lastIndex(of: ":"), remote.firstIndex(of: ":") == colon else { return remote }
        return String(remote[..<colon])
    }

    package func update(_ id: String, _ body: (inout ConnectionInfo) -> Void) {
        state.withLockedValue { state in
            // In place: a copy of the entry's info would copy its subscription list on every change, and a
            // connection making 20,000 subscriptions would take seconds of its loop (quadratic).
            guard let entry = state.entries[id] else { return }
            body(&entry.info)
        }
    }

    /// Forgets a connection; false when it was not registered.
    @discardableResult
    package func remove(_ id: String) -> Bool {
        state.withLockedValue { state in
            guard let entry = state.entries.removeValue(forKey: id) else { return false }
            if let publisherID = entry.publisherID, state.publishers[publisherID] == id {
                state.publishers[publisherID] = nil
            }
            if let address = entry.address {
                let left = state.perAddress[address, default: 1] - 1
                state.perAddress[address] = left > 0 ? left : nil
            }
            return true
        }
    }

    package var count: Int { state.withLockedValue { $0.entries.count } }

    package func list() -> [ConnectionInfo] {
        state.withLockedValue { $0.entries.values.map(\.info) }.sorted { $0.connectedAt < $1.connectedAt }
    }

    /// Asks one connection to close; false when there is no such connection.
    /// The controller of connection `id` (or of the connection now publishing as `id`, `setPublisherID`),
    /// while it is registered.
    package func controller(_ id: String) -> (any ConnectionController)? {
        state.withLockedValue { state in
            if let entry = state.entries[id] { return entry.controller }
            if let connection = state.publishers[id] { return state.entries[connection]?.controller }
            return state.pausable[id]
        }
    }

    /// A publisher that is not a registered connection publishes as `publisherID` (publisher flow control
    /// finds it by that id, `controller(_:)`); nil forgets it.
    package func setPausablePublisher(_ publisherID: String, _ controller: (any ConnectionController)?) {
        state.withLockedValue { $0.pausable[publisherID] = controller }
    }

    /// Who publishes as `publisherID` (its connection id, or the id it publishes with), while it is
    /// registered: the user (nil: anonymous), roles and admin flag — the caller of a ballot cast by publish.
    package func identity(ofPublisher publisherID: String) -> (userID: String?, roles: [String], isAdmin: Bool)? {
        state.withLockedValue { state in
            guard let entry = state.entries[publisherID] ?? state.publishers[publisherID].flatMap({ state.entries[$0] })
            else { return nil }
            return (entry.info.userID, entry.roles, entry.isAdmin)
        }
    }

    /// Connection `id`'s identity now has these roles and admin flag.
    package func setAuthority(roles: [String], isAdmin: Bool, for id: String) {
        state.withLockedValue { state in
            guard let entry = state.entries[id] else { return }
            entry.roles = roles
            entry.isAdmin = isAdmin
        }
    }

    /// Connection `id` publishes with `publisherID` on its messages (MQTT: its client identifier, which
    /// No Local compares); the latest connection to claim one has it.
    package func setPublisherID(_ publisherID: String, for id: String) {
        let claimed = state.withLockedValue { state -> Bool in
            guard let entry = state.entries[id] else { return false }
            entry.publisherID = publisherID
            state.publishers[publisherID] = id
            return true
        }
        if claimed, let observer = claimObserver.withLockedValue({ $0 }) { observer(publisherID) }
    }

    /// Calls `observer` with each publisher id a connection here claims (an engine tells other instances,
    /// whose connection with that id is taken over).
    package func observeClaims(_ observer: @escaping @Sendable (String) -> Void) {
        claimObserver.withLockedValue { $0 = observer }
    }

    /// Closes the connection publishing as `publisherID` here, when another instance's connection claimed
    /// it; false when there is none.
    @discardableResult
    package func releaseClaim(_ publisherID: String) -> Bool {
        guard
            let controller = state.withLockedValue({ state in
                state.publishers[publisherID].flatMap { state.entries[$0]?.controller }
            })
        else { return false }
        controller.requestClose(.takenOver)
        return true
    }

    package func close(_ id: String, reason: CloseReason) -> Bool {
        guard let controller = state.withLockedValue({ $0.entries[id]?.controller }) else { return false }
        controller.requestClose(reason)
        return true
    }

    /// Asks every connection to close (shutdown).
    package func closeAll(reason: CloseReason) {
        for controller in state.withLockedValue({ $0.entries.values.map(\.controller) }) {
            controller.requestClose(reason)
        }
    }
}

extension ConnectionRegistry {
    /// The HTTP refusal for a new connection from `remoteAddress` (upgrades, SSE, long polls), or nil:
    /// 503 when the server is full, 429 for the per-address and rate limits.
    package func httpRefusal(remoteAddress: SocketAddress?) -> APIError? {
        guard let refusal = admissionRefusal(remoteAddress: remoteAddress?.clientDescription) else { return nil }
        let message = refusal.message(limits)
        return refusal == .total ? .unavailable(message) : APIError(.tooManyRequests, "rate_limited", message)
    }
}
