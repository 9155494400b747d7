import BusCore
import Logging
import NIOCore
import PostgresNIO

/// Reads everything the PostgreSQL store keeps into a `StoredState`, by the same rules as SQLite's
/// `load()`: a log whose rows are not contiguous up to its `last_offset`, or do not decode, is not intact;
/// rows of a session that does not exist are left out.
struct PostgresStateLoader {
    let connection: PostgresConnection
    let logger: Logger

    func load(streamBodies: Bool = true) throws -> StoredState {
        var state = StoredState()
        // One snapshot for every read, so a writer committing meanwhile cannot tear the state.
        _ = try rows("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? rows("COMMIT") }
        state.logs = try loadLogs()
        for row in try rows("SELECT topic, body FROM retained ORDER BY topic COLLATE \"C\"") {
            let (name, body) = try row.decode((String, ByteBuffer).self)
            guard let topic = try? Topic(name),
                let message = StoredMessageCodec.decode(body, topic: topic, position: nil)
            else { continue }
            state.retained.append(message)
        }
        state.sessions = try loadSessions()
        for row in try rows("SELECT seq, topic, body FROM message_log ORDER BY seq") {
            let (seq, name, body) = try row.decode((Int64, String, ByteBuffer).self)
            guard let topic = try? Topic(name),
                let message = StoredMessageCodec.decode(body, topic: topic, position: nil)
            else { continue }
            state.sessionMessages.append((UInt64(seq), message))
        }
        for row in try rows(
            #"SELECT group_name, topic, epoch, "offset" FROM consumer_offset ORDER BY group_name COLLATE "C", topic COLLATE "C""#
        ) {
            let (group, topic, epoch, offset) = try row.decode((String, String, String, Int64).self)
            state.consumerOffsets.append(
                StoredConsumerOffset(group: group, topic: topic, epoch: epoch, offset: UInt64(offset)))
        }
        try loadBroker(into: &state)
        for row in try rows(
            """
            SELECT queue, id, priority, deadline, exchange, routing_keys, deaths, redelivered, topic, body
            FROM amqp_queue_message ORDER BY queue COLLATE "C", id
            """
        ) {
            if let message = try Self.queueMessage(row) { state.queueMessages.append(message) }
        }
        try loadStreams(into: &state, bodies: streamBodies)
        try loadRecords(into: &state)
        return state
    }

    /// The queue broker's exchanges, queues and bindings (not its messages).
    func loadBroker(into state: inout StoredState) throws {
        for row in try rows(
            "SELECT name, durable, exclusive, auto_delete, arguments FROM amqp_queue ORDER BY name COLLATE \"C\"")
        {
            let (name, durable, exclusive, autoDelete, arguments) = try row.decode(
                (String, Bool, Bool, Bool, ByteBuffer).self)
            state.queues.append(
                StoredQueue(
                    name: name, durable: durable, exclusive: exclusive, autoDelete: autoDelete,
                    arguments: Array(arguments.readableBytesView)))
        }
        for row in try rows(
            "SELECT exchange, queue, routing_key, arguments FROM amqp_binding ORDER BY exchange COLLATE \"C\", queue COLLATE \"C\", routing_key COLLATE \"C\""
        ) {
            let (exchange, queue, routingKey, arguments) = try row.decode((String, String, String, ByteBuffer).self)
            state.bindings.append(
                StoredBinding(
                    exchange: exchange, queue: queue, routingKey: routingKey,
                    arguments: Array(arguments.readableBytesView)))
        }
        for row in try rows(
            """
            SELECT source, destination, routing_key, arguments FROM amqp_exchange_binding
            ORDER BY source COLLATE "C", destination COLLATE "C", routing_key COLLATE "C", arguments
            """
        ) {
            let (source, destination, routingKey, arguments) = try row.decode((String, String, String, ByteBuffer).self)
            state.exchangeBindings.append(
                StoredExchangeBinding(
                    source: source, destination: destination, routingKey: routingKey,
                    arguments: Array(arguments.readableBytesView)))
        }
        for row in try rows(
            "SELECT name, type, auto_delete, internal, alternate_exchange FROM amqp_exchange ORDER BY name COLLATE \"C\""
        ) {
            let (name, type, autoDelete, isInternal, alternate) = try row.decode(
                (String, String, Bool, Bool, String?).self)
            state.exchanges.append(
                StoredExchange(
                    name: name, type: type, autoDelete: autoDelete, internal: isInternal, alternateExchange: alternate))
        }
    }

    /// The queue broker's exchanges, queues and bindings as the database holds them now, in one snapshot
    /// (an instance sharing the database learns what another declared).
    func loadBrokerTopology() throws -> StoredState {
        _ = try rows("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? rows("COMMIT") }
        var state = StoredState()
        try loadBroker(into: &state)
        return state
    }

    /// One queue's stored messages with ids from `firstID` on, in id order (a queue's new owner among
    /// several instances reads them fresh).
    func loadQueueMessages(_ queue: String, from firstID: UInt64) throws -> [StoredQueueMessage] {
        try rows(
            """
            SELECT queue, id, priority, deadline, exchange, routing_keys, deaths, redelivered, topic, body
            FROM amqp_queue_message WHERE queue = \(queue) AND id >= \(Int64(bitPattern: firstID)) ORDER BY id
            """
        ).compactMap { try Self.queueMessage($0) }
    }

    /// The retained messages of `topics` (several instances share the database: one changed elsewhere).
    func loadRetained(_ topics: [String]) throws -> [String: BusMessage] {
        var found: [String: BusMessage] = [:]
        for row in try rows("SELECT topic, body FROM retained WHERE topic = ANY(\(topics)::TEXT[])") {
            let (name, body) = try row.decode((String, ByteBuffer).self)
            guard let topic = try? Topic(name),
                let message = StoredMessageCodec.decode(body, topic: topic, position: nil)
            else { continue }
            found[name] = message
        }
        return found
    }

    /// One consumer group's committed stream offsets, every stream and partition (a group's new serving
    /// instance among several reads them fresh).
    func loadStreamConsumerOffsets(group: String) throws -> [StoredStreamConsumerOffset] {
        try rows(
            """
            SELECT stream, partition, epoch, "offset" FROM stream_consumer_offset WHERE group_name = \(group)
            """
        ).map { row in
            let (stream, partition, epoch, offset) = try row.decode((String, Int64, String, Int64).self)
            return StoredStreamConsumerOffset(
                group: group, stream: stream, partition: Int(partition), epoch: epoch, offset: UInt64(offset))
        }
    }

    /// A row of `amqp_queue_message`; nil when it does not decode.
    private static func queueMessage(_ row: PostgresRow) throws -> StoredQueueMessage? {
        let (queue, id, priority, deadline, exchange, keys, deaths, redelivered, topicName, body) = try row.decode(
            (String, Int64, Int64, Int64, String, ByteBuffer, ByteBuffer, Bool, String, ByteBuffer).self)
        guard let topic = try? Topic(topicName),
            let message = StoredMessageCodec.decode(body, topic: topic, position: nil),
            let routingKeys = StoredQueueCodec.decodeStrings(Array(keys.readableBytesView))
        else { return nil }
        return StoredQueueMessage(
            queue: queue, id: UInt64(id), priority: UInt8(clamping: priority),
            deadline: UInt64(bitPattern: deadline), exchange: exchange, routingKeys: routingKeys,
            deaths: Array(deaths.readableBytesView), redelivered: redelivered, message: message)
    }

    func rows(_ query: PostgresQuery) throws -> PostgresQueryResult {
        try connection.query(query, logger: logger).wait()
    }

    private func loadLogs() throws -> [StoredLog] {
        var logs: [StoredLog] = []
        for row in try rows("SELECT id, topic, epoch, last_offset FROM topic_log ORDER BY id") {
            let (id, name, epoch, last) = try row.decode((Int64, String, String, Int64).self)
            let lastOffset = UInt64(last)
            guard let topic = try? Topic(name) else { continue }
            var log = StoredLogAssembler(topic: topic, epoch: epoch, lastOffset: lastOffset)
            for row in try rows(#"SELECT "offset", body FROM log_message WHERE log_id = \#(id) ORDER BY "offset""#) {
                let (stored, body) = try row.decode((Int64, ByteBuffer).self)
                log.add(offset: UInt64(stored), body: body)
            }
            logs.append(log.finish())
        }
        return logs
    }

    private func loadSessions() throws -> [StoredSession] {
        var sessions: [String: StoredSession] = [:]
        for row in try rows("SELECT client_id, expiry_seconds, disconnected_at FROM session") {
            let (clientID, expiry, disconnectedAt) = try row.decode((String, Int64, Int64).self)
            let header = StoredSession.Header(
                clientID: clientID, expirySeconds: UInt32(truncatingIfNeeded: expiry),
                disconnectedAt: UInt64(bitPattern: disconnectedAt))
            sessions[clientID] = StoredSession(header: header)
        }
        for row in try rows(
            """
            SELECT client_id, filter, options, identifier, since_seq FROM session_subscription
            ORDER BY client_id, filter COLLATE "C"
            """)
        {
            let (clientID, filter, options, identifier, sinceSeq) = try row.decode(
                (String, String, Int64, Int64?, Int64).self)
            sessions[clientID]?.subscriptions.append(
                StoredSubscription(
                    filter: filter, options: UInt8(truncatingIfNeeded: options), identifier: identifier.map(Int.init),
                    sinceSeq: UInt64(sinceSeq)))
        }
        for row in try rows("SELECT client_id, seq, packet_id, state FROM session_delivery ORDER BY client_id, seq") {
            let (clientID, seq, packetID, stateValue) = try row.decode((String, Int64, Int64, Int64).self)
            guard let state = StoredDelivery.State(rawValue: UInt8(truncatingIfNeeded: stateValue)) else { continue }
            sessions[clientID]?.deliveries.append(
                StoredDelivery(seq: UInt64(seq), packetID: UInt16(truncatingIfNeeded: packetID), state: state))
        }
        for row in try rows("SELECT client_id, packet_id FROM session_inbound_qos2 ORDER BY client_id, packet_id") {
            let (clientID, packetID) = try row.decode((String, Int64).self)
            sessions[clientID]?.inboundQoS2.append(UInt16(truncatingIfNeeded: packetID))
        }
        return sessions.values.sorted { $0.header.clientID < $1.header.clientID }
    }
}
