import Logging
import PostgresNIO

/// The PostgreSQL schema, as numbered migrations (docs/storage.md describes each table; the tables are
/// SQLite's, in PostgreSQL's types). A migration, once shipped, is never edited: changes come as new
/// migrations. `switchboard_schema` records which ran; migrating holds a transaction-scoped advisory lock,
/// so instances starting together against one database migrate it once.
enum PostgresSchema {
    /// One migration: its version and its statements, run in one transaction.
    struct Migration {
        var version: Int64
        var statements: [String]
    }

    /// Key of the advisory lock held while migrating (any constant; "sb" + "schema" in ASCII-ish digits).
    static let migrationLockKey: Int64 = 0x5342_5343_4845_4D41

    static let versionTable = """
        CREATE TABLE IF NOT EXISTS switchboard_schema (
            version BIGINT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """

    static let migrations: [Migration] = [
        Migration(
            version: 1,
            statements: [
                // History: one row per durable topic log, one per kept message.
                """
                CREATE TABLE topic_log (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    topic TEXT NOT NULL UNIQUE,
                    epoch TEXT NOT NULL,
                    last_offset BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE log_message (
                    log_id BIGINT NOT NULL REFERENCES topic_log(id),
                    "offset" BIGINT NOT NULL,
                    time BIGINT NOT NULL,
                    body BYTEA NOT NULL,
                    PRIMARY KEY (log_id, "offset")
                )
                """,
                "CREATE INDEX log_message_time ON log_message (log_id, time)",
                "CREATE TABLE retained (topic TEXT PRIMARY KEY, body BYTEA NOT NULL)",
                """
                CREATE TABLE session (
                    client_id TEXT PRIMARY KEY,
                    expiry_seconds BIGINT NOT NULL,
                    disconnected_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE session_subscription (
                    client_id TEXT NOT NULL,
                    filter TEXT NOT NULL,
                    options BIGINT NOT NULL,
                    identifier BIGINT,
                    since_seq BIGINT NOT NULL,
                    PRIMARY KEY (client_id, filter)
                )
                """,
                "CREATE TABLE message_log (seq BIGINT PRIMARY KEY, topic TEXT NOT NULL, body BYTEA NOT NULL)",
                """
                CREATE TABLE session_delivery (
                    client_id TEXT NOT NULL,
                    seq BIGINT NOT NULL,
                    packet_id BIGINT NOT NULL,
                    state BIGINT NOT NULL,
                    PRIMARY KEY (client_id, seq)
                )
                """,
                // The session message trim deletes deliveries by sequence across sessions.
                "CREATE INDEX session_delivery_seq ON session_delivery (seq)",
                """
                CREATE TABLE session_inbound_qos2 (
                    client_id TEXT NOT NULL,
                    packet_id BIGINT NOT NULL,
                    PRIMARY KEY (client_id, packet_id)
                )
                """,
                """
                CREATE TABLE consumer_offset (
                    group_name TEXT NOT NULL,
                    topic TEXT NOT NULL,
                    epoch TEXT NOT NULL,
                    "offset" BIGINT NOT NULL,
                    PRIMARY KEY (group_name, topic)
                )
                """,
                """
                CREATE TABLE amqp_queue (
                    name TEXT PRIMARY KEY,
                    durable BOOLEAN NOT NULL,
                    exclusive BOOLEAN NOT NULL,
                    auto_delete BOOLEAN NOT NULL,
                    arguments BYTEA NOT NULL
                )
                """,
                """
                CREATE TABLE amqp_binding (
                    exchange TEXT NOT NULL,
                    queue TEXT NOT NULL,
                    routing_key TEXT NOT NULL,
                    PRIMARY KEY (exchange, queue, routing_key)
                )
                """,
            ]),
        Migration(
            version: 2,
            statements: [
                // The AMQP broker's durable state beyond queues: exchanges, binding arguments, and the
                // persistent messages of durable queues.
                "ALTER TABLE amqp_binding ADD COLUMN arguments BYTEA NOT NULL DEFAULT ''::bytea",
                """
                CREATE TABLE amqp_exchange (
                    name TEXT PRIMARY KEY,
                    type TEXT NOT NULL,
                    auto_delete BOOLEAN NOT NULL,
                    internal BOOLEAN NOT NULL,
                    alternate_exchange TEXT
                )
                """,
                """
                CREATE TABLE amqp_queue_message (
                    queue TEXT NOT NULL,
                    id BIGINT NOT NULL,
                    priority BIGINT NOT NULL,
                    deadline BIGINT NOT NULL,
                    exchange TEXT NOT NULL,
                    routing_keys BYTEA NOT NULL,
                    deaths BYTEA NOT NULL,
                    redelivered BOOLEAN NOT NULL,
                    topic TEXT NOT NULL,
                    body BYTEA NOT NULL,
                    PRIMARY KEY (queue, id)
                )
                """,
            ]),
        Migration(
            version: 3,
            statements: [
                // Exchange-to-exchange bindings between durable exchanges.
                """
                CREATE TABLE amqp_exchange_binding (
                    source TEXT NOT NULL,
                    destination TEXT NOT NULL,
                    routing_key TEXT NOT NULL,
                    arguments BYTEA NOT NULL,
                    PRIMARY KEY (source, destination, routing_key, arguments)
                )
                """
            ]),
        Migration(
            version: 4,
            statements: [
                // Streams (docs/storage.md, "Streams"): definitions, partitions with their epoch and newest
                // offset, messages, and consumer group offsets. Self-contained: renumber freely at a merge.
                """
                CREATE TABLE stream (
                    name TEXT PRIMARY KEY,
                    filters TEXT NOT NULL,
                    partitions BIGINT NOT NULL,
                    retention TEXT NOT NULL,
                    storage TEXT NOT NULL,
                    max_messages BIGINT,
                    max_bytes BIGINT,
                    max_age_ns BIGINT,
                    max_message_size BIGINT,
                    max_messages_per_subject BIGINT,
                    discard TEXT NOT NULL,
                    duplicate_window_ns BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE stream_partition (
                    stream TEXT NOT NULL,
                    partition BIGINT NOT NULL,
                    epoch TEXT NOT NULL,
                    last_offset BIGINT NOT NULL,
                    PRIMARY KEY (stream, partition)
                )
                """,
                """
                CREATE TABLE stream_message (
                    stream TEXT NOT NULL,
                    partition BIGINT NOT NULL,
                    "offset" BIGINT NOT NULL,
                    subject TEXT NOT NULL,
                    key BYTEA,
                    time BIGINT NOT NULL,
                    body BYTEA NOT NULL,
                    PRIMARY KEY (stream, partition, "offset")
                )
                """,
                """
                CREATE TABLE stream_consumer_offset (
                    group_name TEXT NOT NULL,
                    stream TEXT NOT NULL,
                    partition BIGINT NOT NULL,
                    epoch TEXT NOT NULL,
                    "offset" BIGINT NOT NULL,
                    PRIMARY KEY (group_name, stream, partition)
                )
                """,
            ]),
        Migration(
            version: 5,
            statements: [
                // Record collections (docs/storage.md, "Records"), as SQLite's v5. Fields stay JSON text, not
                // JSONB, so a record reads back byte for byte as it was written.
                """
                CREATE TABLE record_collection (
                    name TEXT PRIMARY KEY,
                    definition TEXT NOT NULL
                )
                """,
                """
                CREATE TABLE record (
                    collection TEXT NOT NULL,
                    id TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    created BIGINT NOT NULL,
                    updated BIGINT NOT NULL,
                    fields TEXT NOT NULL,
                    PRIMARY KEY (collection, id)
                )
                """,
            ]),
        Migration(
            version: 6,
            statements: [
                // A sealed stream (JetStream's `sealed`), as SQLite's v6.
                "ALTER TABLE stream ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT FALSE"
            ]),
        Migration(
            version: 7,
            statements: [
                // A stream whose max_bytes counts records as nats-server does, as SQLite's v7.
                "ALTER TABLE stream ADD COLUMN record_overhead BIGINT"
            ]),
        Migration(
            version: 8,
            statements: [
                // Stream records as segments, as SQLite's v8: one row per partition per commit packing that
                // commit's records (`StreamSegmentCodec`), and the partition's trim floor. The rows of
                // `stream_message` move into segments of up to 1024 records, built here in SQL (the format
                // is big-endian: `int8send`/`int4send`'s order; a NULL key is the length 0xFFFFFFFF).
                """
                CREATE TABLE stream_segment (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    stream TEXT NOT NULL,
                    partition BIGINT NOT NULL,
                    first_offset BIGINT NOT NULL,
                    last_offset BIGINT NOT NULL,
                    records BYTEA NOT NULL
                )
                """,
                "CREATE INDEX stream_segment_by_offset ON stream_segment (stream, partition, last_offset)",
                "ALTER TABLE stream_partition ADD COLUMN trimmed_before BIGINT NOT NULL DEFAULT 0",
                """
                INSERT INTO stream_segment (stream, partition, first_offset, last_offset, records)
                SELECT stream, partition, min("offset"), max("offset"),
                '\\x01'::BYTEA || string_agg(
                    int8send("offset") || int4send(octet_length(convert_to(subject, 'UTF8')))
                    || convert_to(subject, 'UTF8')
                    || CASE WHEN key IS NULL THEN '\\xffffffff'::BYTEA ELSE int4send(octet_length(key)) || key END
                    || int4send(octet_length(body)) || body, ''::BYTEA ORDER BY "offset")
                FROM (
                    SELECT *, (row_number() OVER (PARTITION BY stream, partition ORDER BY "offset") - 1) / 1024 AS chunk
                    FROM stream_message
                ) AS numbered
                GROUP BY stream, partition, chunk
                """,
                "DROP TABLE stream_message",
            ]),
        Migration(
            version: 9,
            statements: [
                // How much of a `file` stream's newest records each partition keeps whole in memory, as
                // SQLite's v9: NULL the server's default, -1 every record, else bytes.
                "ALTER TABLE stream ADD COLUMN memory_tail_bytes BIGINT"
            ]),
        Migration(
            version: 10,
            statements: [
                // A writer claim's fence: the token of the instance that claimed it last
                // (`StoreSessionOwnership.fenceWriter`). BYTEA: resource names hold U+0000.
                "CREATE TABLE writer_fence (resource BYTEA PRIMARY KEY, token BIGINT NOT NULL)"
            ]),
    ]
}

extension PostgresSchema {
    /// Brings the database up to the newest migration, in one transaction under the advisory lock.
    static func migrate(_ connection: PostgresConnection, logger: Logger) throws {
        func run(_ query: PostgresQuery) throws -> PostgresQueryResult {
            try connection.query(query, logger: logger).wait()
        }
        _ = try run("BEGIN")
        do {
            _ = try run("SELECT pg_advisory_xact_lock(\(migrationLockKey))")
            _ = try run(PostgresQuery(unsafeSQL: versionTable))
            var applied: Set<Int64> = []
            for row in try run("SELECT version FROM switchboard_schema") {
                applied.insert(try row.decode(Int64.self))
            }
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.statements { _ = try run(PostgresQuery(unsafeSQL: statement)) }
                _ = try run("INSERT INTO switchboard_schema (version) VALUES (\(migration.version))")
                logger.notice("storage: PostgreSQL schema migrated to version \(migration.version)")
            }
            let commit = try run("COMMIT")
            guard commit.metadata.command == "COMMIT" else { throw StoreError("the migration was rolled back") }
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
    }
}
