import BusCore
import Foundation
import NIOCore
import Testing

@testable import Storage

/// PostgreSQL's v8 migration: the `stream_message` rows of an older database (one per record) become
/// segments, built in SQL, that `StreamSegmentCodec` reads back.
@Suite(.postgresServer) struct PostgresStreamSegmentTests {
    @Test func rowsOfAVersion7DatabaseBecomeSegments() throws {
        let server = try #require(PostgresServer.current)
        let database = try server.createDatabase().database
        try server.execute(PostgresSchema.versionTable, database: database)
        for migration in PostgresSchema.migrations where migration.version <= 7 {
            for statement in migration.statements { try server.execute(statement, database: database) }
            try server.execute(
                "INSERT INTO switchboard_schema (version) VALUES (\(migration.version))", database: database)
        }
        try server.execute(
            """
            INSERT INTO stream (name, filters, partitions, retention, storage, discard, duplicate_window_ns)
            VALUES ('old', 'old/#', 2, 'limits', 'file', 'old', 0)
            """, database: database)
        try server.execute(
            "INSERT INTO stream_partition (stream, partition, epoch, last_offset) VALUES ('old', 0, 'a', 1500), ('old', 1, 'b', 3)",
            database: database)
        var values: [String] = []
        for (partition, offsets) in [(0, Array(1...1500)), (1, [3])] {
            for offset in offsets {
                let message = BusMessage(
                    topic: try Topic("old/\(offset)"), payload: ByteBuffer(string: "v\(offset)"),
                    timestamp: UInt64(offset))
                let body = StoredMessageCodec.encode(message).readableBytesView.map { String(format: "%02x", $0) }
                    .joined()
                let key = offset % 2 == 0 ? "'\\x01'::BYTEA" : "NULL"
                values.append("('old', \(partition), \(offset), 'old/\(offset)', \(key), \(offset), '\\x\(body)')")
            }
        }
        try server.execute(
            #"INSERT INTO stream_message (stream, partition, "offset", subject, key, time, body) VALUES "#
                + values.joined(separator: ", "), database: database)
        let store = try PostgresStore(configuration: server.configuration(database: database))
        defer { store.close() }
        let stream = try #require(try store.load().streams.first)
        #expect(stream.partitions.map(\.lastOffset) == [1500, 3])
        #expect(stream.partitions[0].messages.map(\.offset) == Array(1...1500))
        #expect(stream.partitions[0].messages[1].key == [1] && stream.partitions[0].messages[0].key == nil)
        #expect(String(buffer: stream.partitions[0].messages[1499].message.payload) == "v1500")
        #expect(stream.partitions[0].messages[1499].message.timestamp == 1500)
        #expect(stream.partitions[1].messages.map(\.message.topic.name) == ["old/3"])
    }
}
