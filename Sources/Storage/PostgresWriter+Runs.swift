import BusCore
import NIOCore
import PostgresNIO

extension PostgresWriter {
    /// A run of consecutive per-message session-delivery and AMQP queue-message writes of one kind, sent as
    /// one `unnest` statement instead of a statement per message. A persistent MQTT session writes a
    /// delivery row per message it sends and deletes it at the PUBACK; a durable AMQP queue inserts a row
    /// per message: one statement each cost the database ~50 µs of CPU per message and made PostgreSQL, not
    /// Switchboard, the bound of the durable rows (Benchmarks/analysis.md, "Durable rows on PostgreSQL").
    ///
    /// A key written twice in one run is folded as the per-row statement's `ON CONFLICT` would have applied
    /// the second write to the first (one statement cannot upsert a row twice). Any other write first sends
    /// the run, so the commit's order is kept.
    struct MessageRows {
        enum Kind { case none, saveDelivery, deleteDelivery, queueMessage }
        private(set) var kind = Kind.none
        private var index: [String: Int] = [:]
        // Deliveries (saved or deleted).
        private var clients: [String] = []
        private var seqs: [Int64] = []
        private var packetIDs: [Int64] = []
        private var states: [Int64] = []
        // Queue messages.
        private var queues: [String] = []
        private var ids: [Int64] = []
        private var priorities: [Int64] = []
        private var deadlines: [Int64] = []
        private var exchanges: [String] = []
        private var routingKeys: [ByteBuffer] = []
        private var deaths: [ByteBuffer] = []
        private var redelivered: [Bool] = []
        private var topics: [String] = []
        private var bodies: [ByteBuffer] = []

        /// Takes `write` into the run (sending the run first when it is of another kind); false for a write
        /// of no kind here, which the caller handles after `flush`.
        mutating func take(_ write: StoreWrite, into statements: inout Statements) -> Bool {
            switch write {
            case .saveDelivery(let clientID, let delivery):
                start(.saveDelivery, &statements)
                let key = "\(delivery.seq)\u{0}\(clientID)"
                if let existing = index[key] {
                    // ON CONFLICT (client_id, seq) DO UPDATE SET packet_id, state.
                    packetIDs[existing] = Int64(delivery.packetID)
                    states[existing] = Int64(delivery.state.rawValue)
                    return true
                }
                index[key] = clients.count
                clients.append(clientID)
                seqs.append(Int64(delivery.seq))
                packetIDs.append(Int64(delivery.packetID))
                states.append(Int64(delivery.state.rawValue))
            case .deleteDelivery(let clientID, let seq):
                start(.deleteDelivery, &statements)
                clients.append(clientID)
                seqs.append(Int64(seq))
            case .saveQueueMessage(let stored):
                start(.queueMessage, &statements)
                let key = "\(stored.id)\u{0}\(stored.queue)"
                if let existing = index[key] {
                    // ON CONFLICT (queue, id) DO UPDATE SET redelivered.
                    redelivered[existing] = stored.redelivered
                    return true
                }
                index[key] = queues.count
                queues.append(stored.queue)
                ids.append(Int64(stored.id))
                priorities.append(Int64(stored.priority))
                deadlines.append(Int64(bitPattern: stored.deadline))
                exchanges.append(stored.exchange)
                routingKeys.append(ByteBuffer(bytes: StoredQueueCodec.encode(strings: stored.routingKeys)))
                deaths.append(ByteBuffer(bytes: stored.deaths))
                redelivered.append(stored.redelivered)
                topics.append(stored.message.topic.name)
                bodies.append(StoredMessageCodec.encode(stored.message))
            default:
                flush(into: &statements)
                return false
            }
            return true
        }

        private mutating func start(_ next: Kind, _ statements: inout Statements) {
            if kind != next { flush(into: &statements) }
            kind = next
        }

        mutating func flush(into statements: inout Statements) {
            switch kind {
            case .none: return
            case .saveDelivery:
                // A delivery of a session that is gone (deleted in this batch or by another instance) is not
                // kept, as the per-row statement's `WHERE EXISTS` did.
                statements.run(
                    """
                    INSERT INTO session_delivery (client_id, seq, packet_id, state)
                    SELECT d.client_id, d.seq, d.packet_id, d.state
                    FROM unnest(\(clients)::TEXT[], \(seqs)::BIGINT[], \(packetIDs)::BIGINT[], \(states)::BIGINT[])
                    AS d(client_id, seq, packet_id, state)
                    WHERE EXISTS (SELECT 1 FROM session WHERE session.client_id = d.client_id)
                    ON CONFLICT (client_id, seq) DO UPDATE SET packet_id = excluded.packet_id, state = excluded.state
                    """)
            case .deleteDelivery:
                statements.run(
                    """
                    DELETE FROM session_delivery USING unnest(\(clients)::TEXT[], \(seqs)::BIGINT[]) AS d(client_id, seq)
                    WHERE session_delivery.client_id = d.client_id AND session_delivery.seq = d.seq
                    """)
            case .queueMessage:
                statements.run(
                    """
                    INSERT INTO amqp_queue_message
                    (queue, id, priority, deadline, exchange, routing_keys, deaths, redelivered, topic, body)
                    SELECT * FROM unnest(\(queues)::TEXT[], \(ids)::BIGINT[], \(priorities)::BIGINT[],
                    \(deadlines)::BIGINT[], \(exchanges)::TEXT[], \(routingKeys)::BYTEA[], \(deaths)::BYTEA[],
                    \(redelivered)::BOOLEAN[], \(topics)::TEXT[], \(bodies)::BYTEA[])
                    ON CONFLICT (queue, id) DO UPDATE SET redelivered = excluded.redelivered
                    """)
            }
            self = MessageRows()
        }
    }
}
