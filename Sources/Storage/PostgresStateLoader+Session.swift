import BusCore
import NIOCore
import PostgresNIO

extension PostgresStateLoader {
    /// One session as the database holds it now, with the logged session messages newer than its oldest
    /// subscription (what it may be owed), read in one snapshot; nil when there is no such session. A new
    /// owner reads the session this way (`PostgresSessionOwnership`).
    func loadSession(_ clientID: String) throws -> StoredSessionSnapshot? {
        _ = try rows("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? rows("COMMIT") }
        guard
            let header = try rows(
                "SELECT expiry_seconds, disconnected_at FROM session WHERE client_id = \(clientID)"
            ).first
        else { return nil }
        let (expiry, disconnectedAt) = try header.decode((Int64, Int64).self)
        var session = StoredSession(
            header: StoredSession.Header(
                clientID: clientID, expirySeconds: UInt32(truncatingIfNeeded: expiry),
                disconnectedAt: UInt64(bitPattern: disconnectedAt)))
        for row in try rows(
            """
            SELECT filter, options, identifier, since_seq FROM session_subscription WHERE client_id = \(clientID)
            ORDER BY filter COLLATE "C"
            """)
        {
            let (filter, options, identifier, sinceSeq) = try row.decode((String, Int64, Int64?, Int64).self)
            session.subscriptions.append(
                StoredSubscription(
                    filter: filter, options: UInt8(truncatingIfNeeded: options), identifier: identifier.map(Int.init),
                    sinceSeq: UInt64(sinceSeq)))
        }
        for row in try rows(
            "SELECT seq, packet_id, state FROM session_delivery WHERE client_id = \(clientID) ORDER BY seq")
        {
            let (seq, packetID, stateValue) = try row.decode((Int64, Int64, Int64).self)
            guard let state = StoredDelivery.State(rawValue: UInt8(truncatingIfNeeded: stateValue)) else { continue }
            session.deliveries.append(
                StoredDelivery(seq: UInt64(seq), packetID: UInt16(truncatingIfNeeded: packetID), state: state))
        }
        for row in try rows(
            "SELECT packet_id FROM session_inbound_qos2 WHERE client_id = \(clientID) ORDER BY packet_id")
        {
            session.inboundQoS2.append(UInt16(truncatingIfNeeded: try row.decode(Int64.self)))
        }
        var messages: [(seq: UInt64, message: BusMessage)] = []
        if let oldest = session.subscriptions.map(\.sinceSeq).min() {
            for row in try rows(
                "SELECT seq, topic, body FROM message_log WHERE seq > \(Int64(bitPattern: oldest)) ORDER BY seq")
            {
                let (seq, name, body) = try row.decode((Int64, String, ByteBuffer).self)
                guard let topic = try? Topic(name),
                    let message = StoredMessageCodec.decode(body, topic: topic, position: nil)
                else { continue }
                messages.append((UInt64(seq), message))
            }
        }
        return StoredSessionSnapshot(session: session, messages: messages)
    }
}
