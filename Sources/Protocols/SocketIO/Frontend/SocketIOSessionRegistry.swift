import NIOConcurrencyHelpers

/// Engine.IO sessions by id, and the state of dropped sockets kept for recovery by private id: a
/// polling request or an upgrade may arrive on any event loop, so a session is found by its `sid`,
/// never by its TCP connection. One lock, held only to look up, insert or remove.
final class SocketIOSessionRegistry: Sendable {
    private let sessions = NIOLockedValueBox<[String: SocketIOSession]>([:])
    private let recoverable = NIOLockedValueBox<[String: SocketIORecoveryRecord]>([:])

    func insert(_ session: SocketIOSession) {
        sessions.withLockedValue { $0[session.sid] = session }
    }

    func session(_ sid: String) -> SocketIOSession? {
        sessions.withLockedValue { $0[sid] }
    }

    func remove(_ sid: String) {
        _ = sessions.withLockedValue { $0.removeValue(forKey: sid) }
    }

    var count: Int { sessions.withLockedValue { $0.count } }

    /// Keeps a dropped socket's state until `record.expiresAt`.
    func keep(_ record: SocketIORecoveryRecord) {
        recoverable.withLockedValue { records in
            records[record.privateID] = record
            // Expired records go when new ones come: the table never holds more than one window's worth.
            if records.count > 64, records.count.isMultiple(of: 64) {
                let now = record.keptAt
                records = records.filter { $0.value.expiresAt > now }
            }
        }
    }

    /// Takes the record for `privateID` if it has not expired at `now` (nanoseconds, the bus clock).
    func take(_ privateID: String, now: UInt64) -> SocketIORecoveryRecord? {
        recoverable.withLockedValue { records in
            guard let record = records.removeValue(forKey: privateID), record.expiresAt > now else { return nil }
            return record
        }
    }
}
