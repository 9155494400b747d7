import NIOConcurrencyHelpers

/// Where sessions live between connections, by client identifier. Small on purpose: the storage issue
/// replaces the in-memory implementation with a durable one behind the same interface.
package protocol MQTTSessionStore: Sendable {
    /// The session of `clientID`, if one exists.
    func session(for clientID: String) -> MQTTSession?
    /// Makes `session` the one for its client identifier, returning the one it replaces.
    @discardableResult
    func store(_ session: MQTTSession) -> MQTTSession?
    /// Forgets `session` if it is still the one for its client identifier.
    func remove(_ session: MQTTSession)
    var count: Int { get }
    /// Every session (for housekeeping; each is confined to its own loop).
    func all() -> [MQTTSession]
}

/// Sessions in memory, behind one lock taken on connect and disconnect only.
package final class MQTTMemorySessionStore: MQTTSessionStore {
    private let sessions = NIOLockedValueBox<[String: MQTTSession]>([:])

    package init() {}

    package func session(for clientID: String) -> MQTTSession? {
        sessions.withLockedValue { $0[clientID] }
    }

    package func store(_ session: MQTTSession) -> MQTTSession? {
        sessions.withLockedValue { sessions in
            let old = sessions[session.clientID]
            sessions[session.clientID] = session
            return old
        }
    }

    package func remove(_ session: MQTTSession) {
        sessions.withLockedValue { sessions in
            if sessions[session.clientID] === session { sessions[session.clientID] = nil }
        }
    }

    package var count: Int { sessions.withLockedValue { $0.count } }

    package func all() -> [MQTTSession] { sessions.withLockedValue { Array($0.values) } }
}
