import Foundation
import GRDB
import NIOCore

/// The database schema, as migrations (docs/storage.md describes each table). A migration, once
/// shipped, is never edited: changes come as new migrations.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // History: one row per durable topic log, one per kept message.
            try db.execute(
                sql: """
                    CREATE TABLE topic_log (
                        id INTEGER PRIMARY KEY,
                        topic TEXT NOT NULL UNIQUE,
                        epoch TEXT NOT NULL,
                        last_offset INTEGER NOT NULL
                    );
                    CREATE TABLE log_message (
                        log_id INTEGER NOT NULL REFERENCES topic_log(id),
                        "offset" INTEGER NOT NULL,
                        time INTEGER NOT NULL,
                        body BLOB NOT NULL,
                        PRIMARY KEY (log_id, "offset")
                    ) WITHOUT ROWID;
                    CREATE TABLE retained (
                        topic TEXT PRIMARY KEY,
                        body BLOB NOT NULL
                    );
                    CREATE TABLE session (
                        client_id TEXT PRIMARY KEY,
                        expiry_seconds INTEGER NOT NULL,
                        disconnected_at INTEGER NOT NULL
                    );
                    CREATE TABLE session_subscription (
                        client_id TEXT NOT NULL,
                        filter TEXT NOT NULL,
                        options INTEGER NOT NULL,
                        identifier INTEGER,
                        since_seq INTEGER NOT NULL,
                        PRIMARY KEY (client_id, filter)
                    ) WITHOUT ROWID;
                    CREATE TABLE message_log (
                        seq INTEGER PRIMARY KEY,
                        topic TEXT NOT NULL,
                        body BLOB NOT NULL
                    );
                    CREATE TABLE session_delivery (
                        client_id TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        packet_id INTEGER NOT NULL,
                        state INTEGER NOT NULL,
                        PRIMARY KEY (client_id, seq)
                    ) WITHOUT ROWID;
                    CREATE TABLE session_inbound_qos2 (
                        client_id TEXT NOT NULL,
                        packet_id INTEGER NOT NULL,
                        PRIMARY KEY (client_id, packet_id)
                    ) WITHOUT ROWID;
                    CREATE TABLE consumer_offset (
                        group_name TEXT NOT NULL,
                        topic TEXT NOT NULL,
                        epoch TEXT NOT NULL,
                        "offset" INTEGER NOT NULL,
                        PRIMARY KEY (group_name, topic)
                    ) WITHOUT ROWID;
                    CREATE TABLE amqp_queue (
                        name TEXT PRIMARY KEY,
                        durable INTEGER NOT NULL,
                        exclusive INTEGER NOT NULL,
                        auto_delete INTEGER NOT NULL,
                        arguments BLOB NOT NULL
                    );
                    CREATE TABLE amqp_binding (
                        exchange TEXT NOT NULL,
                        queue TEXT NOT NULL,
                        routing_key TEXT NOT NULL,
                        PRIMARY KEY (exchange, queue, routing_key)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2") { db in
            // The AMQP broker's durable state beyond queues: exchanges, binding arguments, and the
            // persistent messages of durable queues.
            try db.execute(
                sql: """
                    ALTER TABLE amqp_binding ADD COLUMN arguments BLOB NOT NULL DEFAULT x'';
                    CREATE TABLE amqp_exchange (
                        name TEXT PRIMARY KEY,
                        type TEXT NOT NULL,
                        auto_delete INTEGER NOT NULL,
                        internal INTEGER NOT NULL,
                        alternate_exchange TEXT
                    );
                    CREATE TABLE amqp_queue_message (
                        queue TEXT NOT NULL,
                        id INTEGER NOT NULL,
                        priority INTEGER NOT NULL,
                        deadline INTEGER NOT NULL,
                        exchange TEXT NOT NULL,
                        routing_keys BLOB NOT NULL,
                        deaths BLOB NOT NULL,
                        redelivered INTEGER NOT NULL,
                        topic TEXT NOT NULL,
                        body BLOB NOT NULL,
                        PRIMARY KEY (queue, id)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v3") { db in
            // Exchange-to-exchange bindings between durable exchanges.
            try db.execute(
                sql: """
                    CREATE TABLE amqp_exchange_binding (
                        source TEXT NOT NULL,
                        destination TEXT NOT NULL,
                        routing_key TEXT NOT NULL,
                        arguments BLOB NOT NULL,
                        PRIMARY KEY (source, destination, routing_key, arguments)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v4") { db in
            // Streams (docs/storage.md, "Streams"): definitions, partitions with their epoch and newest
            // offset, messages, and consumer group offsets. Self-contained: renumber freely at a merge.
            try db.execute(
                sql: """
                    CREATE TABLE stream (
                        name TEXT PRIMARY KEY,
                        filters TEXT NOT NULL,
                        partitions INTEGER NOT NULL,
                        retention TEXT NOT NULL,
                        storage TEXT NOT NULL,
                        max_messages INTEGER,
                        max_bytes INTEGER,
                        max_age_ns INTEGER,
                        max_message_size INTEGER,
                        max_messages_per_subject INTEGER,
                        discard TEXT NOT NULL,
                        duplicate_window_ns INTEGER NOT NULL
                    );
                    CREATE TABLE stream_partition (
                        stream TEXT NOT NULL,
                        partition INTEGER NOT NULL,
                        epoch TEXT NOT NULL,
                        last_offset INTEGER NOT NULL,
                        PRIMARY KEY (stream, partition)
                    ) WITHOUT ROWID;
                    CREATE TABLE stream_message (
                        stream TEXT NOT NULL,
                        partition INTEGER NOT NULL,
                        "offset" INTEGER NOT NULL,
                        subject TEXT NOT NULL,
                        key BLOB,
                        time INTEGER NOT NULL,
                        body BLOB NOT NULL,
                        PRIMARY KEY (stream, partition, "offset")
                    ) WITHOUT ROWID;
                    CREATE TABLE stream_consumer_offset (
                        group_name TEXT NOT NULL,
                        stream TEXT NOT NULL,
                        partition INTEGER NOT NULL,
                        epoch TEXT NOT NULL,
                        "offset" INTEGER NOT NULL,
                        PRIMARY KEY (group_name, stream, partition)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v5") { db in
            // Record collections (docs/storage.md, "Records"): definitions as JSON text, records with their
            // system fields as columns and their own fields as JSON text.
            try db.execute(
                sql: """
                    CREATE TABLE record_collection (
                        name TEXT PRIMARY KEY,
                        definition TEXT NOT NULL
                    );
                    CREATE TABLE record (
                        collection TEXT NOT NULL,
                        id TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        created INTEGER NOT NULL,
                        updated INTEGER NOT NULL,
                        fields TEXT NOT NULL,
                        PRIMARY KEY (collection, id)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v6") { db in
            // A sealed stream (JetStream's `sealed`) takes and drops nothing more.
            try db.execute(sql: "ALTER TABLE stream ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v7") { db in
            // A stream whose max_bytes counts records as nats-server does (JetStream's streams).
            try db.execute(sql: "ALTER TABLE stream ADD COLUMN record_overhead INTEGER")
        }
        migrator.registerMigration("v8") { db in
            // Stream records as segments (docs/storage.md, "Streams"): one row per partition per commit,
            // packing that commit's records (`StreamSegmentCodec`), instead of one row per record. A trim
            // deletes whole segments and raises the partition's `trimmed_before`, below which the load skips
            // the records of a segment it kept. The rows of `stream_message` move into segments here.
            try db.execute(
                sql: """
                    CREATE TABLE stream_segment (
                        stream TEXT NOT NULL,
                        partition INTEGER NOT NULL,
                        first_offset INTEGER NOT NULL,
                        last_offset INTEGER NOT NULL,
                        records BLOB NOT NULL
                    );
                    CREATE INDEX stream_segment_by_offset ON stream_segment (stream, partition, last_offset);
                    ALTER TABLE stream_partition ADD COLUMN trimmed_before INTEGER NOT NULL DEFAULT 0;
                    """)
            try convertStreamMessages(db)
            try db.execute(sql: "DROP TABLE stream_message")
        }
        migrator.registerMigration("v9") { db in
            // How much of a `file` stream's newest records each partition keeps whole in memory
            // (`StreamMemoryTail`): NULL the server's default, -1 every record, else bytes.
            try db.execute(sql: "ALTER TABLE stream ADD COLUMN memory_tail_bytes INTEGER")
        }
        return migrator
    }

    /// v8: the rows of `stream_message` (one per record) become segments of up to `recordsPerSegment`
    /// records each, in offset order.
    private static func convertStreamMessages(_ db: Database) throws {
        let recordsPerSegment = 1024
        var current: (stream: String, partition: Int64)?
        var records: [StreamSegmentCodec.Record] = []
        func flush() throws {
            guard let key = current, let first = records.first, let last = records.last else { return }
            try db.execute(
                sql: """
                    INSERT INTO stream_segment (stream, partition, first_offset, last_offset, records)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [
                    key.stream, key.partition, Int64(first.offset), Int64(last.offset),
                    Data(StreamSegmentCodec.encode(records).readableBytesView),
                ])
            records.removeAll(keepingCapacity: true)
        }
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT stream, partition, "offset", subject, key, body FROM stream_message
                ORDER BY stream, partition, "offset"
                """)
        while let row = try rows.next() {
            let stream: String = row["stream"]
            let partition: Int64 = row["partition"]
            if current.map({ $0.stream != stream || $0.partition != partition }) ?? true
                || records.count >= recordsPerSegment
            {
                try flush()
                current = (stream, partition)
            }
            let key: Data? = row["key"]
            let body: Data = row["body"]
            records.append(
                StreamSegmentCodec.Record(
                    offset: UInt64(row["offset"] as Int64), subject: row["subject"], key: key.map { [UInt8]($0) },
                    body: ByteBuffer(bytes: body)))
        }
        try flush()
    }
}
