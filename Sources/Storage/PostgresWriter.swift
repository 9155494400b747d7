import BusCore
import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// Applies group commits to PostgreSQL: BEGIN, every write's statement in submission order, COMMIT.
/// The statements of one commit are handed to the connection at once (it sends each as soon as the
/// previous one completed, so the writer thread does not wake per row); COMMIT is sent only after every
/// one of them succeeded, and a COMMIT answered with ROLLBACK fails the commit. The connection is opened on
/// first use and again after it was lost. Used only on the store's commit thread (hence
/// `@unchecked Sendable`).
final class PostgresWriter: @unchecked Sendable {
    private let connect: @Sendable () throws -> PostgresConnection
    private let synchronousCommit: String
    /// Several instances share the database: a committed consumer offset never moves back within its
    /// epoch (an instance committing from a stale copy cannot undo another's progress), and a retained
    /// message's or record's change is announced (`StoreOwnedResource.retainedChannel`, `recordChannel`) in
    /// the transaction that writes it.
    private let sharedInstances: Bool
    /// This instance's slot among those sharing the database (what its stream notifications carry, so it
    /// can tell its own from others').
    private let instanceSlot: @Sendable () -> UInt8
    /// Shared: the writer claims' fence tokens its appends are checked against (`StoreWriterFenced`).
    private let fences: WriterFences?
    private let logger: Logger
    private var connection: PostgresConnection?
    /// Topics whose `topic_log` row exists (saves the insert-if-missing per appended message).
    private var knownLogs: Set<String> = []

    init(
        connect: @escaping @Sendable () throws -> PostgresConnection, synchronousCommit: String,
        sharedInstances: Bool = false, fences: WriterFences? = nil,
        instanceSlot: @escaping @Sendable () -> UInt8 = { 0 }, logger: Logger
    ) {
        self.connect = connect
        self.fences = fences
        self.synchronousCommit = synchronousCommit
        self.sharedInstances = sharedInstances
        self.instanceSlot = instanceSlot
        self.logger = logger
    }

    /// A statement of a commit that gets no answer for this long (a database that stopped answering
    /// without closing the connection) fails the commit and drops the connection, instead of stalling
    /// every durable write behind it.
    static let commitTimeout = TimeAmount.seconds(10)

    func commit(_ writes: [StoreWrite]) throws {
        let connection = try connected()
        var statements = Statements(connection: connection, logger: logger)
        statements.run("BEGIN")
        do {
            let fence = fenceCheck(writes, into: &statements)
            try enqueue(writes, into: &statements)
            try statements.waitForAll()
            if let fence { try Self.passFence(fence) }
            let commit = try Self.await(connection.query("COMMIT", logger: logger))
            // A transaction that failed answers COMMIT with ROLLBACK rather than an error.
            guard commit.metadata.command == "COMMIT" else { throw StoreError("postgres: the commit was rolled back") }
        } catch {
            // The connection is dropped, not rolled back and reused: closing it ends the transaction on
            // the server, and a ROLLBACK awaited on a connection the database had just dropped was seen
            // to never complete (stalling every durable write behind it). The next commit reconnects.
            knownLogs.removeAll()  // rows inserted by the rolled-back transaction
            self.connection = nil
            Self.drop(connection)
            if let error = error as? StoreError { throw error }
            if let error = error as? StoreWriterFenced { throw error }
            throw StoreError("postgres: \(PostgresStore.describe(error))")
        }
    }

    /// Shared, with appends to writer claims fenced here: the claims' rows, read first in the transaction
    /// and locked against another instance's new fence until it ends (FOR SHARE), with the tokens they
    /// must hold. Nil when nothing is checked (one instance, or no such append).
    private func fenceCheck(_ writes: [StoreWrite], into statements: inout Statements)
        -> (rows: EventLoopFuture<PostgresQueryResult>, expected: [String: Int64])?
    {
        guard let fences, !fences.isEmpty else { return nil }
        var writers: Set<StoreOwnedResource.Writer> = []
        for write in writes {
            if let writer = StoreOwnedResource.writer(of: write) { writers.insert(writer) }
        }
        guard !writers.isEmpty else { return nil }
        let expected = fences.tokens(of: Set(writers.map(\.resource)))
        guard !expected.isEmpty else { return nil }
        let names = expected.keys.sorted().map { ByteBuffer(string: $0) }
        let rows = statements.connection.query(
            "SELECT resource, token FROM writer_fence WHERE resource = ANY(\(names)::BYTEA[]) FOR SHARE",
            logger: logger)
        statements.pending.append(rows)
        return (rows, expected)
    }

    /// Throws `StoreWriterFenced` with the resources whose row does not hold this instance's token.
    private static func passFence(_ fence: (rows: EventLoopFuture<PostgresQueryResult>, expected: [String: Int64]))
        throws
    {
        var found: [String: Int64] = [:]
        for row in try fence.rows.wait() {
            let (resource, token) = try row.decode((ByteBuffer, Int64).self)
            found[String(buffer: resource)] = token
        }
        let lost = Set(fence.expected.filter { found[$0.key] != $0.value }.keys)
        if !lost.isEmpty { throw StoreWriterFenced(resources: lost) }
    }

    /// Closes `connection` without waiting, keeping it alive until it is closed (postgres-nio asserts that
    /// a connection is closed before it goes).
    static func drop(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// `future`'s value, or a failure when no answer comes within `commitTimeout` (a database that stopped
    /// answering without closing the connection).
    static func await<Value: Sendable>(_ future: EventLoopFuture<Value>) throws -> Value {
        let done = DispatchSemaphore(value: 0)
        let result = NIOLockedValueBox<Result<Value, any Error>?>(nil)
        future.whenComplete { outcome in
            result.withLockedValue { $0 = outcome }
            done.signal()
        }
        guard done.wait(timeout: .now() + .milliseconds(Int(Self.commitTimeout.nanoseconds / 1_000_000))) == .success
        else {
            throw StoreError("postgres: no answer in \(Self.commitTimeout.nanoseconds / 1_000_000_000) s")
        }
        return try result.withLockedValue { $0! }.get()
    }

    /// The database's size on disk (`pg_database_size`), for /metrics; 0 when it cannot be read.
    func databaseBytes() -> UInt64 {
        guard let connection = try? connected(),
            let row = try? connection.query("SELECT pg_database_size(current_database())", logger: logger).wait()
                .first,
            let size = try? row.decode(Int64.self)
        else { return 0 }
        return UInt64(max(size, 0))
    }

    func close() {
        _ = try? connection?.close().wait()
        connection = nil
    }

    private func connected() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connection = nil
        knownLogs.removeAll()
        let fresh = try connect()
        do {
            // `on`: COMMIT returns once the WAL is flushed (fsync); `off` (`--durability no-fsync`): once
            // the server has it, which survives our crash but not the database server's.
            _ = try Self.await(
                fresh.query(PostgresQuery(unsafeSQL: "SET synchronous_commit = \(synchronousCommit)"), logger: logger))
        } catch {
            Self.drop(fresh)
            throw error
        }
        connection = fresh
        return fresh
    }

    private func enqueue(_ writes: [StoreWrite], into statements: inout Statements) throws {
        // Per log touched in this batch: its newest offset and count bound, applied once at the end.
        var touched: [String: (last: UInt64, keep: Int)] = [:]
        // Consecutive appends and session messages go as one multi-row statement each (one round trip
        // instead of one per row); any other write first sends what is buffered, so order is kept.
        var run = Rows()
        // Consecutive stream appends likewise (PostgresWriter+Streams).
        var streamRun = StreamRows()
        // Consecutive per-message delivery and queue-message writes likewise (PostgresWriter+Runs).
        var messageRun = MessageRows()
        // Shared: each stream written, and whether more than appends (and trims) changed it.
        var streamsWritten: [String: Bool] = [:]
        // Shared: each topic log appended to or reset.
        var logsWritten: Set<String> = []
        for write in writes {
            switch write {
            case .appendLog, .saveSessionMessage: break
            default: run.flush(into: &statements)
            }
            if case .appendStream(let message) = write {
                streamRun.append(message)
                if sharedInstances, streamsWritten[message.stream] == nil { streamsWritten[message.stream] = false }
                continue
            }
            streamRun.flush(into: &statements)
            if messageRun.take(write, into: &statements) { continue }
            switch write {
            case .appendLog(let topic, let epoch, let message, let keep):
                if sharedInstances { logsWritten.insert(topic.name) }
                ensureLog(topic.name, epoch: epoch, &statements)
                run.append(topic: topic.name, message: message, into: &statements)
                let previous = touched[topic.name]?.last ?? 0
                touched[topic.name] = (max(previous, message.offset), keep)
            case .resetLog(let topic, let epoch):
                if sharedInstances { logsWritten.insert(topic.name) }
                ensureLog(topic.name, epoch: epoch, &statements)
                statements.run(
                    "DELETE FROM log_message WHERE log_id = (SELECT id FROM topic_log WHERE topic = \(topic.name))")
                statements.run("UPDATE topic_log SET epoch = \(epoch), last_offset = 0 WHERE topic = \(topic.name)")
                touched[topic.name] = nil
            case .trimLogByAge(let topic, let before):
                statements.run(
                    """
                    DELETE FROM log_message WHERE log_id = (SELECT id FROM topic_log WHERE topic = \(topic.name))
                    AND time < \(Int64(bitPattern: before))
                    """)
            case .retain(let topic, let message):
                if let message {
                    statements.run(
                        """
                        INSERT INTO retained (topic, body) VALUES (\(topic.name), \(StoredMessageCodec.encode(message)))
                        ON CONFLICT (topic) DO UPDATE SET body = excluded.body
                        """)
                } else {
                    statements.run("DELETE FROM retained WHERE topic = \(topic.name)")
                }
                if sharedInstances {
                    // Every instance (this one too) reads the topic's row again once this commits.
                    statements.run("SELECT pg_notify(\(StoreOwnedResource.retainedChannel), \(topic.name))")
                }
            case .saveSession(let header):
                statements.run(
                    """
                    INSERT INTO session (client_id, expiry_seconds, disconnected_at)
                    VALUES (\(header.clientID), \(Int64(header.expirySeconds)), \(Int64(bitPattern: header.disconnectedAt)))
                    ON CONFLICT (client_id) DO UPDATE SET expiry_seconds = excluded.expiry_seconds,
                    disconnected_at = excluded.disconnected_at
                    """)
            case .deleteSession(let clientID):
                statements.run("DELETE FROM session WHERE client_id = \(clientID)")
                statements.run("DELETE FROM session_subscription WHERE client_id = \(clientID)")
                statements.run("DELETE FROM session_delivery WHERE client_id = \(clientID)")
                statements.run("DELETE FROM session_inbound_qos2 WHERE client_id = \(clientID)")
            case .saveSubscription(let clientID, let subscription):
                // Casts: parameters in a SELECT list get no type from the INSERT's columns.
                statements.run(
                    """
                    INSERT INTO session_subscription (client_id, filter, options, identifier, since_seq)
                    SELECT \(clientID)::TEXT, \(subscription.filter)::TEXT, \(Int64(subscription.options))::BIGINT,
                    \(subscription.identifier.map(Int64.init))::BIGINT, \(Int64(subscription.sinceSeq))::BIGINT
                    WHERE EXISTS (SELECT 1 FROM session WHERE client_id = \(clientID))
                    ON CONFLICT (client_id, filter) DO UPDATE SET options = excluded.options,
                    identifier = excluded.identifier, since_seq = excluded.since_seq
                    """)
            case .deleteSubscription(let clientID, let filter):
                statements.run(
                    "DELETE FROM session_subscription WHERE client_id = \(clientID) AND filter = \(filter)")
            case .saveSessionMessage(let seq, let message):
                run.append(seq: seq, message: message, into: &statements)
            case .trimSessionMessages(let through):
                statements.run("DELETE FROM message_log WHERE seq <= \(Int64(through))")
                statements.run("DELETE FROM session_delivery WHERE seq <= \(Int64(through))")
            case .inboundQoS2(let clientID, let packetID, let received):
                if received {
                    statements.run(
                        """
                        INSERT INTO session_inbound_qos2 (client_id, packet_id)
                        SELECT \(clientID)::TEXT, \(Int64(packetID))::BIGINT
                        WHERE EXISTS (SELECT 1 FROM session WHERE client_id = \(clientID))
                        ON CONFLICT (client_id, packet_id) DO NOTHING
                        """)
                } else {
                    statements.run(
                        """
                        DELETE FROM session_inbound_qos2 WHERE client_id = \(clientID)
                        AND packet_id = \(Int64(packetID))
                        """)
                }
            case .saveConsumerOffset where sharedInstances, .saveStreamConsumerOffset where sharedInstances:
                Self.enqueueForwardOnlyOffset(write, into: &statements)
            case .saveConsumerOffset(let offset):
                statements.run(
                    """
                    INSERT INTO consumer_offset (group_name, topic, epoch, "offset")
                    VALUES (\(offset.group), \(offset.topic), \(offset.epoch), \(Int64(offset.offset)))
                    ON CONFLICT (group_name, topic) DO UPDATE SET epoch = excluded.epoch, "offset" = excluded."offset"
                    """)
            case .saveQueue(let queue):
                statements.run(
                    """
                    INSERT INTO amqp_queue (name, durable, exclusive, auto_delete, arguments)
                    VALUES (\(queue.name), \(queue.durable), \(queue.exclusive), \(queue.autoDelete),
                    \(ByteBuffer(bytes: queue.arguments)))
                    ON CONFLICT (name) DO UPDATE SET durable = excluded.durable, exclusive = excluded.exclusive,
                    auto_delete = excluded.auto_delete, arguments = excluded.arguments
                    """)
            case .deleteQueue(let name):
                statements.run("DELETE FROM amqp_queue WHERE name = \(name)")
                statements.run("DELETE FROM amqp_binding WHERE queue = \(name)")
                statements.run("DELETE FROM amqp_queue_message WHERE queue = \(name)")
            case .saveBinding(let binding):
                statements.run(
                    """
                    INSERT INTO amqp_binding (exchange, queue, routing_key, arguments)
                    VALUES (\(binding.exchange), \(binding.queue), \(binding.routingKey),
                    \(ByteBuffer(bytes: binding.arguments)))
                    ON CONFLICT (exchange, queue, routing_key) DO UPDATE SET arguments = excluded.arguments
                    """)
            case .deleteBinding(let binding):
                statements.run(
                    """
                    DELETE FROM amqp_binding WHERE exchange = \(binding.exchange) AND queue = \(binding.queue)
                    AND routing_key = \(binding.routingKey)
                    """)
            case .saveExchangeBinding(let binding):
                statements.run(
                    """
                    INSERT INTO amqp_exchange_binding (source, destination, routing_key, arguments)
                    VALUES (\(binding.source), \(binding.destination), \(binding.routingKey),
                    \(ByteBuffer(bytes: binding.arguments)))
                    ON CONFLICT DO NOTHING
                    """)
            case .deleteExchangeBinding(let binding):
                statements.run(
                    """
                    DELETE FROM amqp_exchange_binding WHERE source = \(binding.source)
                    AND destination = \(binding.destination) AND routing_key = \(binding.routingKey)
                    AND arguments = \(ByteBuffer(bytes: binding.arguments))
                    """)
            case .saveExchange(let exchange):
                statements.run(
                    """
                    INSERT INTO amqp_exchange (name, type, auto_delete, internal, alternate_exchange)
                    VALUES (\(exchange.name), \(exchange.type), \(exchange.autoDelete), \(exchange.internal),
                    \(exchange.alternateExchange))
                    ON CONFLICT (name) DO UPDATE SET type = excluded.type, auto_delete = excluded.auto_delete,
                    internal = excluded.internal, alternate_exchange = excluded.alternate_exchange
                    """)
            case .deleteExchange(let name):
                statements.run("DELETE FROM amqp_exchange WHERE name = \(name)")
                statements.run("DELETE FROM amqp_binding WHERE exchange = \(name)")
                statements.run("DELETE FROM amqp_exchange_binding WHERE source = \(name) OR destination = \(name)")
            case .deleteQueueMessages(let queue, let ids):
                statements.run(
                    "DELETE FROM amqp_queue_message WHERE queue = \(queue) AND id = ANY(\(ids.map { Int64($0) })::BIGINT[])"
                )
            case .markQueueMessagesDelivered(let queue, let ids):
                statements.run(
                    """
                    UPDATE amqp_queue_message SET redelivered = true
                    WHERE queue = \(queue) AND id = ANY(\(ids.map { Int64($0) })::BIGINT[])
                    """)
            case .saveDelivery, .deleteDelivery, .saveQueueMessage:
                preconditionFailure("taken by MessageRows above")
            case .notify(let channel, let payload):
                // Delivered to the listeners when (and only if) the transaction commits.
                statements.run("SELECT pg_notify(\(channel), \(payload))")
            case .saveStream, .deleteStream, .saveStreamPartition, .appendStream, .trimStream, .deleteStreamMessages,
                .saveStreamConsumerOffset:
                try Self.enqueueStream(write, into: &statements)
                if sharedInstances, let (stream, changed) = Self.streamWritten(write) {
                    streamsWritten[stream] = changed || streamsWritten[stream] == true
                }
            case .saveCollection, .deleteCollection, .saveRecord, .deleteRecord:
                Self.enqueueRecord(write, into: &statements)
                if sharedInstances, let key = StoreOwnedResource.recordKey(of: write) {
                    // Every instance (this one too) reads the record again once this commits.
                    statements.run("SELECT pg_notify(\(StoreOwnedResource.recordChannel), \(key))")
                }
            }
        }
        run.flush(into: &statements)
        streamRun.flush(into: &statements)
        messageRun.flush(into: &statements)
        let slot = streamsWritten.isEmpty && logsWritten.isEmpty ? 0 : instanceSlot()
        for (stream, changed) in streamsWritten {
            // Every other instance reads the stream again once this commits (`StreamRegistry+Sharing`).
            let payload = "\(slot)\n\(changed ? "c" : "a")\n\(stream)"
            statements.run("SELECT pg_notify(\(StoreOwnedResource.streamChannel), \(payload))")
        }
        for topic in logsWritten {
            // Every other instance reads the log's tail again once this commits (`HistoryWriterClaims`).
            let payload = "\(slot)\n\(topic)"
            statements.run("SELECT pg_notify(\(StoreOwnedResource.historyChannel), \(payload))")
        }
        for (topic, log) in touched {
            statements.run(
                "UPDATE topic_log SET last_offset = GREATEST(last_offset, \(Int64(log.last))) WHERE topic = \(topic)")
            if log.last > UInt64(log.keep) {
                statements.run(
                    """
                    DELETE FROM log_message WHERE log_id = (SELECT id FROM topic_log WHERE topic = \(topic))
                    AND "offset" <= \(Int64(log.last) - Int64(log.keep))
                    """)
            }
        }
    }

    /// Creates the topic's log row (in `epoch`) unless this writer knows it exists.
    private func ensureLog(_ topic: String, epoch: String, _ statements: inout Statements) {
        guard !knownLogs.contains(topic) else { return }
        statements.run(
            """
            INSERT INTO topic_log (topic, epoch, last_offset) VALUES (\(topic), \(epoch), 0)
            ON CONFLICT (topic) DO NOTHING
            """)
        knownLogs.insert(topic)
    }

    /// A run of consecutive log appends or session messages, sent as one `unnest` statement. A key
    /// written twice in one run keeps its last row (one statement cannot upsert a row twice).
    private struct Rows {
        enum Kind { case none, log, session }
        var kind = Kind.none
        var topics: [String] = []
        var keys: [Int64] = []
        var times: [Int64] = []
        var bodies: [ByteBuffer] = []
        var index: [String: Int] = [:]

        mutating func append(topic: String, message: BusMessage, into statements: inout Statements) {
            if kind != .log { flush(into: &statements) }
            kind = .log
            add(topic, Int64(message.offset), Int64(bitPattern: message.timestamp), message)
        }

        mutating func append(seq: UInt64, message: BusMessage, into statements: inout Statements) {
            if kind != .session { flush(into: &statements) }
            kind = .session
            add(message.topic.name, Int64(seq), 0, message)
        }

        private mutating func add(_ topic: String, _ key: Int64, _ time: Int64, _ message: BusMessage) {
            let body = StoredMessageCodec.encode(message)
            let identity = kind == .log ? "\(key)\u{0}\(topic)" : "\(key)"
            if let existing = index[identity] {
                topics[existing] = topic
                times[existing] = time
                bodies[existing] = body
                return
            }
            index[identity] = keys.count
            topics.append(topic)
            keys.append(key)
            times.append(time)
            bodies.append(body)
        }

        mutating func flush(into statements: inout Statements) {
            switch kind {
            case .none: return
            case .log:
                statements.run(
                    """
                    INSERT INTO log_message (log_id, "offset", time, body)
                    SELECT topic_log.id, m.key, m.time, m.body
                    FROM unnest(\(topics)::TEXT[], \(keys)::BIGINT[], \(times)::BIGINT[], \(bodies)::BYTEA[])
                    AS m(topic, key, time, body) JOIN topic_log ON topic_log.topic = m.topic
                    ON CONFLICT (log_id, "offset") DO UPDATE SET time = excluded.time, body = excluded.body
                    """)
            case .session:
                statements.run(
                    """
                    INSERT INTO message_log (seq, topic, body)
                    SELECT * FROM unnest(\(keys)::BIGINT[], \(topics)::TEXT[], \(bodies)::BYTEA[])
                    ON CONFLICT (seq) DO UPDATE SET topic = excluded.topic, body = excluded.body
                    """)
            }
            self = Rows()
        }
    }

    /// One commit's statements, sent in order; their results are awaited together.
    struct Statements {
        let connection: PostgresConnection
        let logger: Logger
        var pending: [EventLoopFuture<PostgresQueryResult>] = []

        init(connection: PostgresConnection, logger: Logger) {
            self.connection = connection
            self.logger = logger
        }

        mutating func run(_ query: PostgresQuery) {
            pending.append(connection.query(query, logger: logger))
        }

        /// Waits for every statement sent; throws the first failure.
        mutating func waitForAll() throws {
            let results = try PostgresWriter.await(EventLoopFuture.whenAllComplete(pending, on: connection.eventLoop))
            pending = []
            for result in results { _ = try result.get() }
        }
    }
}
