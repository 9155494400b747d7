package import BusCore
import Foundation
import GRDB
import GRDBSQLite
package import Logging
import NIOCore

/// The default store: one SQLite file (WAL) under the data directory, written by one thread with group
/// commit. See docs/storage.md for the schema and the durability modes.
package final class SQLiteStore: Store {
    package let path: String
    private let database: DatabaseQueue
    /// A read-only connection of its own for `readStream` (WAL: it reads while the writer commits).
    private let reader: DatabaseQueue
    private let writer: SQLiteWriter
    private let queue: GroupCommitQueue
    private let checkpoints: SQLiteCheckpointSchedule

    /// Opens (creating and migrating when needed) the database at `path`. A file that fails SQLite's
    /// integrity check is moved aside (`<path>.corrupt-<time>`) and a new one started: its logs then begin
    /// new epochs, so no client resumes into a history that is not the one it saw.
    /// `maxBytes` (> 0) bounds the database file (`PRAGMA max_page_count`): a commit that would pass it fails
    /// with SQLITE_FULL, as on a full disk.
    package init(
        path: String, durability: StoreDurability = .fsync, maxBytes: Int = 0,
        logger: Logger = Logger(label: "storage")
    ) throws {
        self.path = path
        let checkpoints = SQLiteCheckpointSchedule()
        self.checkpoints = checkpoints
        var configuration = Configuration()
        configuration.label = "switchboard.store"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: durability == .fsync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF")
            if maxBytes > 0 {
                let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA max_page_count = \(max(1, maxBytes / pageSize))")
            }
            checkpoints.watch(db)
        }
        // Only a file SQLite finds damaged is moved aside. One it cannot write (permissions, a read-only
        // file system) is intact: moving it aside would start the server on an empty database and drop
        // what clients were acknowledged, so the server refuses to start instead, saying why.
        var opened: DatabaseQueue?
        do {
            opened = try DatabaseQueue(path: path, configuration: configuration)
        } catch let error as DatabaseError
            where error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB
        {
            opened = nil
        } catch {
            throw StoreError(Self.unwritable(path, because: "\(error)"))
        }
        // SQLite opens a file it may not write read-only, without an error (SQLITE_OPEN_READWRITE).
        if let opened, (try? opened.read { db in sqlite3_db_readonly(db.sqliteConnection, "main") }) == 1 {
            try? opened.close()
            throw StoreError(Self.unwritable(path, because: "the file is read-only"))
        }
        let healthy = (try? opened?.read { db in try String.fetchOne(db, sql: "PRAGMA quick_check") }) == "ok"
        if !healthy {
            try? opened?.close()
            let aside = "\(path).corrupt-\(Int(Date().timeIntervalSince1970))"
            do {
                try FileManager.default.moveItem(atPath: path, toPath: aside)
            } catch {
                throw StoreError("\(path) failed its integrity check and cannot be moved aside: \(error)")
            }
            for suffix in ["-wal", "-shm"] {
                try? FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix)
            }
            logger.error("storage: \(path) failed its integrity check; moved to \(aside), starting empty")
            opened = try DatabaseQueue(path: path, configuration: configuration)
        }
        guard let database = opened else { throw StoreError("cannot open \(path)") }
        try SQLiteSchema.migrator.migrate(database)
        self.database = database
        var readerConfiguration = Configuration()
        readerConfiguration.label = "switchboard.store.reader"
        readerConfiguration.readonly = true
        self.reader = try DatabaseQueue(path: path, configuration: readerConfiguration)
        let writer = SQLiteWriter()
        self.writer = writer
        self.queue = GroupCommitQueue(
            name: "switchboard-store",
            commit: { writes in
                do {
                    try database.writeWithoutTransaction { db in
                        try db.inTransaction(.immediate) {
                            try writer.apply(writes, db)
                            return .commit
                        }
                    }
                } catch {
                    writer.forgetCachedIDs()  // ids inserted by the rolled-back transaction
                    throw error
                }
            },
            measureDisk: { Self.diskBytes(path) },
            afterCommit: { busy in
                guard checkpoints.isDue(busy: busy) else { return false }
                // PASSIVE: copies what it can without waiting for anyone; a failure is tried again after
                // the next commit, and committed transactions are durable in the WAL meanwhile.
                guard let done = try? database.writeWithoutTransaction({ db in try db.checkpoint(.passive) }) else {
                    return false
                }
                checkpoints.checkpointed(walPages: done.walFrameCount, copied: done.checkpointedFrameCount)
                return true
            },
            probe: { try Self.probeWrite(database) })
    }

    package func submit(_ writes: [StoreWrite], completion: (@Sendable ((any Error)?) -> Void)?) {
        queue.submit(writes, completion: completion)
    }

    package var statistics: StoreStatistics {
        var statistics = queue.currentStatistics
        if statistics.diskBytes == 0 { statistics.diskBytes = Self.diskBytes(path) }
        return statistics
    }

    package func close() {
        queue.close()
        try? database.writeWithoutTransaction { db in writer.finalize() }
        try? reader.close()
        try? database.close()
    }

    package func readStream(
        _ stream: String, partition: Int, offsets: [UInt64],
        completion: @escaping @Sendable (Result<[StoredStreamMessage], any Error>) -> Void
    ) {
        guard let first = offsets.first, let last = offsets.last else { return completion(.success([])) }
        reader.asyncRead { database in
            completion(
                Result {
                    try Self.readStream(
                        database.get(), stream: stream, partition: partition, offsets: offsets, first: first,
                        last: last)
                })
        }
    }

    /// Whether the database takes a commit again (docs/storage.md, "Degraded"): an empty transaction writes
    /// nothing, so it succeeds on a full disk (and past `max_page_count`) while every real commit fails.
    /// This one allocates pages for a row it takes back (SQLite checks `max_page_count` as pages are
    /// allocated), then changes the header's `user_version` (no schema reads it; GRDB's migrations keep
    /// their own table) back and forth, so its commit appends a page to the WAL as any write does.
    static func probeWrite(_ database: DatabaseQueue) throws {
        try database.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                try db.execute(sql: "SAVEPOINT probe")
                do {
                    try db.execute(sql: "INSERT INTO retained (topic, body) VALUES (char(0), zeroblob(16384))")
                } catch {
                    // SQLITE_FULL may have rolled the whole transaction back already: the reason is the error.
                    try? db.execute(sql: "ROLLBACK TO probe")
                    try? db.execute(sql: "RELEASE probe")
                    throw error
                }
                try db.execute(sql: "ROLLBACK TO probe")
                try db.execute(sql: "RELEASE probe")
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                try db.execute(sql: "PRAGMA user_version = \(version == 0 ? 1 : 0)")
                return .commit
            }
        }
    }

    /// Why the server does not start on a database it cannot write, and what to check.
    static func unwritable(_ path: String, because reason: String) -> String {
        "the database \(path) cannot be written (\(reason)): the server needs to write the file and its "
            + "directory (for the -wal and -shm files); check their owner and permissions for user id \(getuid())"
    }

    static func diskBytes(_ path: String) -> UInt64 {
        ["", "-wal", "-shm"].reduce(0) { total, suffix in
            let size = (try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? NSNumber) ?? nil
            return total + (size?.uint64Value ?? 0)
        }
    }

    // MARK: - Loading

    package func load(streamBodies: Bool) throws -> StoredState {
        try database.read { db in
            var state = StoredState()
            state.logs = try Self.loadLogs(db)
            for row in try Row.fetchAll(db, sql: "SELECT topic, body FROM retained ORDER BY topic") {
                let name: String = row["topic"]
                let body: Data = row["body"]
                guard let topic = try? Topic(name),
                    let message = StoredMessageCodec.decode(ByteBuffer(bytes: body), topic: topic, position: nil)
                else { continue }
                state.retained.append(message)
            }
            state.sessions = try Self.loadSessions(db)
            for row in try Row.fetchAll(db, sql: "SELECT seq, topic, body FROM message_log ORDER BY seq") {
                let seq: Int64 = row["seq"]
                let name: String = row["topic"]
                let body: Data = row["body"]
                guard let topic = try? Topic(name),
                    let message = StoredMessageCodec.decode(ByteBuffer(bytes: body), topic: topic, position: nil)
                else { continue }
                state.sessionMessages.append((UInt64(seq), message))
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM consumer_offset ORDER BY group_name, topic") {
                let offset: Int64 = row["offset"]
                state.consumerOffsets.append(
                    StoredConsumerOffset(
                        group: row["group_name"], topic: row["topic"], epoch: row["epoch"], offset: UInt64(offset)))
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM amqp_queue ORDER BY name") {
                let arguments: Data = row["arguments"]
                state.queues.append(
                    StoredQueue(
                        name: row["name"], durable: row["durable"], exclusive: row["exclusive"],
                        autoDelete: row["auto_delete"], arguments: [UInt8](arguments)))
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM amqp_binding ORDER BY exchange, queue, routing_key") {
                let arguments: Data = row["arguments"]
                state.bindings.append(
                    StoredBinding(
                        exchange: row["exchange"], queue: row["queue"], routingKey: row["routing_key"],
                        arguments: [UInt8](arguments)))
            }
            for row in try Row.fetchAll(
                db, sql: "SELECT * FROM amqp_exchange_binding ORDER BY source, destination, routing_key, arguments")
            {
                let arguments: Data = row["arguments"]
                state.exchangeBindings.append(
                    StoredExchangeBinding(
                        source: row["source"], destination: row["destination"], routingKey: row["routing_key"],
                        arguments: [UInt8](arguments)))
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM amqp_exchange ORDER BY name") {
                state.exchanges.append(
                    StoredExchange(
                        name: row["name"], type: row["type"], autoDelete: row["auto_delete"], internal: row["internal"],
                        alternateExchange: row["alternate_exchange"]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM amqp_queue_message ORDER BY queue, id") {
                let id: Int64 = row["id"]
                let priority: Int64 = row["priority"]
                let deadline: Int64 = row["deadline"]
                let keys: Data = row["routing_keys"]
                let deaths: Data = row["deaths"]
                let topicName: String = row["topic"]
                let body: Data = row["body"]
                guard let topic = try? Topic(topicName),
                    let message = StoredMessageCodec.decode(ByteBuffer(bytes: body), topic: topic, position: nil),
                    let routingKeys = StoredQueueCodec.decodeStrings([UInt8](keys))
                else { continue }
                state.queueMessages.append(
                    StoredQueueMessage(
                        queue: row["queue"], id: UInt64(id), priority: UInt8(clamping: priority),
                        deadline: UInt64(bitPattern: deadline), exchange: row["exchange"], routingKeys: routingKeys,
                        deaths: [UInt8](deaths), redelivered: row["redelivered"], message: message))
            }
            try Self.loadStreams(db, into: &state, bodies: streamBodies)
            try Self.loadRecords(db, into: &state)
            return state
        }
    }

    private static func loadLogs(_ db: Database) throws -> [StoredLog] {
        var logs: [StoredLog] = []
        for row in try Row.fetchAll(db, sql: "SELECT id, topic, epoch, last_offset FROM topic_log ORDER BY id") {
            let id: Int64 = row["id"]
            let name: String = row["topic"]
            let epoch: String = row["epoch"]
            let lastOffset = UInt64(row["last_offset"] as Int64)
            guard let topic = try? Topic(name) else { continue }
            var log = StoredLogAssembler(topic: topic, epoch: epoch, lastOffset: lastOffset)
            let rows = try Row.fetchCursor(
                db, sql: #"SELECT "offset", body FROM log_message WHERE log_id = ? ORDER BY "offset""#, arguments: [id])
            while let row = try rows.next() {
                let body: Data = row["body"]
                log.add(offset: UInt64(row["offset"] as Int64), body: ByteBuffer(bytes: body))
            }
            logs.append(log.finish())
        }
        return logs
    }

    private static func loadSessions(_ db: Database) throws -> [StoredSession] {
        var sessions: [String: StoredSession] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT * FROM session") {
            let header = StoredSession.Header(
                clientID: row["client_id"], expirySeconds: UInt32(truncatingIfNeeded: row["expiry_seconds"] as Int64),
                disconnectedAt: UInt64(row["disconnected_at"] as Int64))
            sessions[header.clientID] = StoredSession(header: header)
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM session_subscription ORDER BY client_id, filter") {
            let clientID: String = row["client_id"]
            let identifier: Int64? = row["identifier"]
            sessions[clientID]?.subscriptions.append(
                StoredSubscription(
                    filter: row["filter"], options: UInt8(truncatingIfNeeded: row["options"] as Int64),
                    identifier: identifier.map(Int.init), sinceSeq: UInt64(row["since_seq"] as Int64)))
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM session_delivery ORDER BY client_id, seq") {
            let clientID: String = row["client_id"]
            guard let state = StoredDelivery.State(rawValue: UInt8(truncatingIfNeeded: row["state"] as Int64)) else {
                continue
            }
            sessions[clientID]?.deliveries.append(
                StoredDelivery(
                    seq: UInt64(row["seq"] as Int64), packetID: UInt16(truncatingIfNeeded: row["packet_id"] as Int64),
                    state: state))
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM session_inbound_qos2 ORDER BY client_id, packet_id") {
            let clientID: String = row["client_id"]
            sessions[clientID]?.inboundQoS2.append(UInt16(truncatingIfNeeded: row["packet_id"] as Int64))
        }
        return sessions.values.sorted { $0.header.clientID < $1.header.clientID }
    }
}

/// The writer's prepared statements and topic-id cache. Used only on the store's commit thread, inside
/// the database's serialized access (hence `@unchecked Sendable`).
final class SQLiteWriter: @unchecked Sendable {
    /// Prepared statements by the address of their SQL literal (hashing a pointer, not the text, per row).
    private var statements: [UnsafeRawPointer: OpaquePointer] = [:]
    /// Durable log ids by topic name.
    private var logIDs: [String: Int64] = [:]

    func apply(_ writes: [StoreWrite], _ db: Database) throws {
        // Per log touched in this batch: its newest offset and count bound, applied once at the end.
        var touched: [Int64: (last: UInt64, keep: Int)] = [:]
        // Stream appends (one segment per partition), trims and newest offsets of this batch, written at
        // its end (SQLiteStore+Streams).
        var streams = SQLiteStreamBatch()
        var body = ByteBuffer()
        for write in writes {
            switch write {
            case .appendLog(let topic, let epoch, let message, let keep):
                let id = try logID(topic.name, epoch: epoch, db)
                body.clear()
                StoredMessageCodec.encode(message, into: &body)
                try run(
                    db, #"INSERT OR REPLACE INTO log_message (log_id, "offset", time, body) VALUES (?, ?, ?, ?)"#,
                    .int(id), .int(Int64(message.offset)), .int(Int64(bitPattern: message.timestamp)), .blob(body))
                let previous = touched[id]?.last ?? 0
                touched[id] = (max(previous, message.offset), keep)
            case .resetLog(let topic, let epoch):
                let id = try logID(topic.name, epoch: epoch, db)
                try run(db, "DELETE FROM log_message WHERE log_id = ?", .int(id))
                try run(db, "UPDATE topic_log SET epoch = ?, last_offset = 0 WHERE id = ?", .text(epoch), .int(id))
                touched[id] = nil
            case .trimLogByAge(let topic, let before):
                guard let id = try existingLogID(topic.name, db) else { continue }
                try run(
                    db, "DELETE FROM log_message WHERE log_id = ? AND time < ?", .int(id),
                    .int(Int64(bitPattern: before)))
            case .retain(let topic, let message):
                if let message {
                    body.clear()
                    StoredMessageCodec.encode(message, into: &body)
                    try run(
                        db, "INSERT OR REPLACE INTO retained (topic, body) VALUES (?, ?)", .text(topic.name),
                        .blob(body))
                } else {
                    try run(db, "DELETE FROM retained WHERE topic = ?", .text(topic.name))
                }
            case .saveSession(let header):
                try run(
                    db,
                    """
                    INSERT INTO session (client_id, expiry_seconds, disconnected_at) VALUES (?, ?, ?)
                    ON CONFLICT (client_id) DO UPDATE SET expiry_seconds = excluded.expiry_seconds,
                    disconnected_at = excluded.disconnected_at
                    """,
                    .text(header.clientID), .int(Int64(header.expirySeconds)),
                    .int(Int64(bitPattern: header.disconnectedAt)))
            case .deleteSession(let clientID):
                try run(db, "DELETE FROM session WHERE client_id = ?", .text(clientID))
                try run(db, "DELETE FROM session_subscription WHERE client_id = ?", .text(clientID))
                try run(db, "DELETE FROM session_delivery WHERE client_id = ?", .text(clientID))
                try run(db, "DELETE FROM session_inbound_qos2 WHERE client_id = ?", .text(clientID))
            case .saveSubscription(let clientID, let subscription):
                try run(
                    db,
                    """
                    INSERT OR REPLACE INTO session_subscription (client_id, filter, options, identifier, since_seq)
                    SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM session WHERE client_id = ?1)
                    """,
                    .text(clientID), .text(subscription.filter), .int(Int64(subscription.options)),
                    subscription.identifier.map { .int(Int64($0)) } ?? .null, .int(Int64(subscription.sinceSeq)))
            case .deleteSubscription(let clientID, let filter):
                try run(
                    db, "DELETE FROM session_subscription WHERE client_id = ? AND filter = ?", .text(clientID),
                    .text(filter))
            case .saveSessionMessage(let seq, let message):
                body.clear()
                StoredMessageCodec.encode(message, into: &body)
                try run(
                    db, "INSERT OR REPLACE INTO message_log (seq, topic, body) VALUES (?, ?, ?)", .int(Int64(seq)),
                    .text(message.topic.name), .blob(body))
            case .trimSessionMessages(let through):
                try run(db, "DELETE FROM message_log WHERE seq <= ?", .int(Int64(through)))
                try run(db, "DELETE FROM session_delivery WHERE seq <= ?", .int(Int64(through)))
            case .saveDelivery(let clientID, let delivery):
                try run(
                    db,
                    """
                    INSERT OR REPLACE INTO session_delivery (client_id, seq, packet_id, state)
                    SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM session WHERE client_id = ?1)
                    """,
                    .text(clientID), .int(Int64(delivery.seq)), .int(Int64(delivery.packetID)),
                    .int(Int64(delivery.state.rawValue)))
            case .deleteDelivery(let clientID, let seq):
                try run(
                    db, "DELETE FROM session_delivery WHERE client_id = ? AND seq = ?", .text(clientID),
                    .int(Int64(seq)))
            case .inboundQoS2(let clientID, let packetID, let received):
                if received {
                    try run(
                        db,
                        """
                        INSERT OR IGNORE INTO session_inbound_qos2 (client_id, packet_id)
                        SELECT ?, ? WHERE EXISTS (SELECT 1 FROM session WHERE client_id = ?1)
                        """,
                        .text(clientID), .int(Int64(packetID)))
                } else {
                    try run(
                        db, "DELETE FROM session_inbound_qos2 WHERE client_id = ? AND packet_id = ?", .text(clientID),
                        .int(Int64(packetID)))
                }
            case .saveConsumerOffset(let offset):
                try run(
                    db,
                    #"INSERT OR REPLACE INTO consumer_offset (group_name, topic, epoch, "offset") VALUES (?, ?, ?, ?)"#,
                    .text(offset.group), .text(offset.topic), .text(offset.epoch), .int(Int64(offset.offset)))
            case .saveQueue(let queue):
                try run(
                    db,
                    """
                    INSERT OR REPLACE INTO amqp_queue (name, durable, exclusive, auto_delete, arguments)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                    .text(queue.name), .int(queue.durable ? 1 : 0), .int(queue.exclusive ? 1 : 0),
                    .int(queue.autoDelete ? 1 : 0), .bytes(queue.arguments))
            case .deleteQueue(let name):
                try run(db, "DELETE FROM amqp_queue WHERE name = ?", .text(name))
                try run(db, "DELETE FROM amqp_binding WHERE queue = ?", .text(name))
                try run(db, "DELETE FROM amqp_queue_message WHERE queue = ?", .text(name))
            case .saveBinding(let binding):
                try run(
                    db,
                    "INSERT OR REPLACE INTO amqp_binding (exchange, queue, routing_key, arguments) VALUES (?, ?, ?, ?)",
                    .text(binding.exchange), .text(binding.queue), .text(binding.routingKey), .bytes(binding.arguments))
            case .deleteBinding(let binding):
                try run(
                    db, "DELETE FROM amqp_binding WHERE exchange = ? AND queue = ? AND routing_key = ?",
                    .text(binding.exchange), .text(binding.queue), .text(binding.routingKey))
            case .saveExchangeBinding(let binding):
                try run(
                    db,
                    """
                    INSERT OR REPLACE INTO amqp_exchange_binding (source, destination, routing_key, arguments)
                    VALUES (?, ?, ?, ?)
                    """,
                    .text(binding.source), .text(binding.destination), .text(binding.routingKey),
                    .bytes(binding.arguments))
            case .deleteExchangeBinding(let binding):
                try run(
                    db,
                    """
                    DELETE FROM amqp_exchange_binding
                    WHERE source = ? AND destination = ? AND routing_key = ? AND arguments = ?
                    """,
                    .text(binding.source), .text(binding.destination), .text(binding.routingKey),
                    .bytes(binding.arguments))
            case .saveExchange(let exchange):
                try run(
                    db,
                    """
                    INSERT OR REPLACE INTO amqp_exchange (name, type, auto_delete, internal, alternate_exchange)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                    .text(exchange.name), .text(exchange.type), .int(exchange.autoDelete ? 1 : 0),
                    .int(exchange.internal ? 1 : 0), exchange.alternateExchange.map { .text($0) } ?? .null)
            case .deleteExchange(let name):
                try run(db, "DELETE FROM amqp_exchange WHERE name = ?", .text(name))
                try run(db, "DELETE FROM amqp_binding WHERE exchange = ?", .text(name))
                try run(
                    db, "DELETE FROM amqp_exchange_binding WHERE source = ? OR destination = ?", .text(name),
                    .text(name))
            case .saveQueueMessage(let stored):
                try run(
                    db,
                    """
                    INSERT OR REPLACE INTO amqp_queue_message
                    (queue, id, priority, deadline, exchange, routing_keys, deaths, redelivered, topic, body)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    .text(stored.queue), .int(Int64(stored.id)), .int(Int64(stored.priority)),
                    .int(Int64(bitPattern: stored.deadline)), .text(stored.exchange),
                    .bytes(StoredQueueCodec.encode(strings: stored.routingKeys)), .bytes(stored.deaths),
                    .int(stored.redelivered ? 1 : 0), .text(stored.message.topic.name),
                    .bytes(Array(StoredMessageCodec.encode(stored.message).readableBytesView)))
            case .deleteQueueMessages(let queue, let ids):
                for id in ids {
                    try run(
                        db, "DELETE FROM amqp_queue_message WHERE queue = ? AND id = ?", .text(queue), .int(Int64(id)))
                }
            case .markQueueMessagesDelivered(let queue, let ids):
                for id in ids {
                    try run(
                        db, "UPDATE amqp_queue_message SET redelivered = 1 WHERE queue = ? AND id = ?", .text(queue),
                        .int(Int64(id)))
                }
            case .notify:
                // An embedded database has one instance: nobody to tell.
                break
            case .saveStream, .deleteStream, .saveStreamPartition, .appendStream, .trimStream, .deleteStreamMessages,
                .saveStreamConsumerOffset:
                try applyStream(write, db, batch: &streams)
            case .saveCollection, .deleteCollection, .saveRecord, .deleteRecord:
                try applyRecord(write, db)
            }
        }
        try flushStreamWrites(&streams, db)
        try updateNewestStreamOffsets(streams.newest, db)
        for (id, log) in touched {
            try run(
                db, "UPDATE topic_log SET last_offset = max(last_offset, ?) WHERE id = ?", .int(Int64(log.last)),
                .int(id))
            if log.last > UInt64(log.keep) {
                try run(
                    db, #"DELETE FROM log_message WHERE log_id = ? AND "offset" <= ?"#, .int(id),
                    .int(Int64(log.last) - Int64(log.keep)))
            }
        }
    }

    func forgetCachedIDs() { logIDs.removeAll() }

    /// Finalizes the prepared statements (before the connection closes).
    func finalize() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements.removeAll()
    }

    private func logID(_ topic: String, epoch: String, _ db: Database) throws -> Int64 {
        if let id = logIDs[topic] { return id }
        if let id = try existingLogID(topic, db) { return id }
        try run(
            db, "INSERT INTO topic_log (topic, epoch, last_offset) VALUES (?, ?, 0)", .text(topic), .text(epoch))
        let id = db.lastInsertedRowID
        logIDs[topic] = id
        return id
    }

    private func existingLogID(_ topic: String, _ db: Database) throws -> Int64? {
        if let id = logIDs[topic] { return id }
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM topic_log WHERE topic = ?", arguments: [topic])
        else { return nil }
        logIDs[topic] = id
        return id
    }

    enum Value {
        case int(Int64)
        case text(String)
        case blob(ByteBuffer)
        case bytes([UInt8])
        case null
    }

    /// Runs one statement with raw bindings (no per-row argument arrays or `Data` copies on the hot path).
    func run(_ db: Database, _ sql: StaticString, _ values: Value...) throws {
        let statement = try prepared(sql, db)
        let (code, message) = Self.bindAndStep(statement, values[...], position: 1, db.sqliteConnection)
        guard code == SQLITE_DONE || code == SQLITE_ROW else {
            throw StoreError("sqlite: \(message ?? "") (\(code)) in \(sql.description)")
        }
    }

    /// Binds `values` from `position` on and steps the statement, then resets it. Text and blobs are bound
    /// where they are (`SQLITE_STATIC`, no copy by SQLite, no C string made): each binding and the step
    /// run inside the accessor that keeps those bytes valid, and the bindings are cleared before it
    /// returns. With `SQLITE_TRANSIENT` every text and blob was copied, and a Swift string passed as a C
    /// string was copied once more: ~10 allocations of a records create's ~92 (`perf` uprobe count).
    private static func bindAndStep(
        _ statement: OpaquePointer, _ values: ArraySlice<Value>, position: Int32, _ connection: OpaquePointer?
    ) -> (Int32, String?) {
        guard let value = values.first else {
            let code = sqlite3_step(statement)
            let message =
                code == SQLITE_DONE || code == SQLITE_ROW ? nil : String(cString: sqlite3_errmsg(connection))
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            return (code, message)
        }
        let rest = values.dropFirst()
        switch value {
        case .int(let v):
            sqlite3_bind_int64(statement, position, v)
        case .null:
            sqlite3_bind_null(statement, position)
        case .text(let v):
            return v.withCString { text in
                sqlite3_bind_text(statement, position, text, -1, nil)
                return bindAndStep(statement, rest, position: position + 1, connection)
            }
        case .blob(let v):
            return v.withUnsafeReadableBytes { bytes in
                sqlite3_bind_blob(statement, position, bytes.baseAddress, Int32(bytes.count), nil)
                return bindAndStep(statement, rest, position: position + 1, connection)
            }
        case .bytes(let v):
            return v.withUnsafeBytes { bytes in
                sqlite3_bind_blob(statement, position, bytes.baseAddress, Int32(bytes.count), nil)
                return bindAndStep(statement, rest, position: position + 1, connection)
            }
        }
        return bindAndStep(statement, rest, position: position + 1, connection)
    }

    private func prepared(_ sql: StaticString, _ db: Database) throws -> OpaquePointer {
        let key = UnsafeRawPointer(sql.utf8Start)
        if let statement = statements[key] { return statement }
        var statement: OpaquePointer?
        let code = sql.withUTF8Buffer { text in
            sqlite3_prepare_v2(
                db.sqliteConnection, UnsafeRawPointer(text.baseAddress!).assumingMemoryBound(to: CChar.self),
                Int32(text.count), &statement, nil)
        }
        guard code == SQLITE_OK, let statement else {
            throw StoreError(
                "sqlite: cannot prepare \(sql.description): \(String(cString: sqlite3_errmsg(db.sqliteConnection)))")
        }
        statements[key] = statement
        return statement
    }
}
