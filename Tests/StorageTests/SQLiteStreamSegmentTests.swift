import BusCore
import Foundation
import GRDB
import NIOCore
import Testing

@testable import Storage

/// SQLite's stream segments: a database written before them (one `stream_message` row per record) is
/// converted by the v8 migration, a damaged segment loses only its own records, and a commit's trims wait
/// for its end (so its appends share one segment).
struct SQLiteStreamSegmentTests {
    let path = NSTemporaryDirectory() + "segments-\(UUID().uuidString).sqlite"

    func removeFiles() {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test func rowsOfAVersion7DatabaseBecomeSegments() throws {
        defer { removeFiles() }
        let database = try DatabaseQueue(path: path)
        try SQLiteSchema.migrator.migrate(database, upTo: "v7")
        try database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO stream (name, filters, partitions, retention, storage, discard, duplicate_window_ns)
                    VALUES ('old', 'old/#', 2, 'limits', 'file', 'old', 0);
                    INSERT INTO stream_partition (stream, partition, epoch, last_offset) VALUES ('old', 0, 'a', 2000);
                    INSERT INTO stream_partition (stream, partition, epoch, last_offset) VALUES ('old', 1, 'b', 3);
                    """)
            for (partition, offsets) in [(0, Array(1...2000)), (1, [3])] {
                for offset in offsets {
                    let message = BusMessage(
                        topic: try Topic("old/\(offset)"), payload: ByteBuffer(string: "v\(offset)"),
                        timestamp: UInt64(offset))
                    try db.execute(
                        sql: """
                            INSERT INTO stream_message (stream, partition, "offset", subject, key, time, body)
                            VALUES ('old', ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            partition, offset, "old/\(offset)", offset % 2 == 0 ? Data([1]) : nil, offset,
                            Data(StoredMessageCodec.encode(message).readableBytesView),
                        ])
                }
            }
        }
        try database.close()
        let store = try SQLiteStore(path: path)
        defer { store.close() }
        let stream = try #require(try store.load().streams.first)
        #expect(stream.partitions.map(\.lastOffset) == [2000, 3])
        #expect(stream.partitions[0].messages.map(\.offset) == Array(1...2000))
        #expect(stream.partitions[0].messages[1].key == [1] && stream.partitions[0].messages[0].key == nil)
        #expect(String(buffer: stream.partitions[0].messages[1999].message.payload) == "v2000")
        #expect(stream.partitions[1].messages.map(\.message.topic.name) == ["old/3"])
        let segments = try DatabaseQueue(path: path).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM stream_segment")
        }
        #expect(segments == 3)  // 1024 + 976 records, and one
    }

    @Test func aDamagedSegmentLosesOnlyItsOwnRecords() async throws {
        defer { removeFiles() }
        var store: any Store = try SQLiteStore(path: path)
        let configuration = try StoreTests.streamConfiguration("s", partitions: 1)
        func write(_ writes: [StoreWrite]) async throws {
            let error: (any Error)? = await withCheckedContinuation { continuation in
                store.submit(writes) { continuation.resume(returning: $0) }
            }
            if let error { throw error }
        }
        try await write([
            .saveStream(configuration), .saveStreamPartition(stream: "s", partition: 0, epoch: "e", lastOffset: 0),
        ])
        try await write(try (1...3).map { .appendStream(try StoreTests.streamMessage("s", 0, UInt64($0))) })
        try await write(try (4...6).map { .appendStream(try StoreTests.streamMessage("s", 0, UInt64($0))) })
        store.close()
        // The first segment cut inside its third record.
        try SQLiteTestAccess.execute(
            path: path,
            sql: "UPDATE stream_segment SET records = substr(records, 1, length(records) - 5) WHERE first_offset = 1")
        store = try SQLiteStore(path: path)
        defer { store.close() }
        let messages = try #require(try store.load().streams.first?.partitions.first?.messages)
        #expect(messages.map(\.offset) == [1, 2, 4, 5, 6])
    }

    /// A full feed trims with every append (a records feed: record, append, trim, per change). The trims of
    /// one commit are applied at its end, once: its appends stay one segment, and what is trimmed is gone
    /// all the same. A partition reset in the same commit applies the trims before it, so the new epoch
    /// does not inherit an old floor.
    @Test func aCommitsTrimsWaitForItsEnd() async throws {
        defer { removeFiles() }
        var store: any Store = try SQLiteStore(path: path)
        let configuration = try StoreTests.streamConfiguration("s", partitions: 2)
        func write(_ writes: [StoreWrite]) async throws {
            let error: (any Error)? = await withCheckedContinuation { continuation in
                store.submit(writes) { continuation.resume(returning: $0) }
            }
            if let error { throw error }
        }
        try await write([
            .saveStream(configuration), .saveStreamPartition(stream: "s", partition: 0, epoch: "e", lastOffset: 0),
            .saveStreamPartition(stream: "s", partition: 1, epoch: "g", lastOffset: 0),
        ])
        try await write(try (1...3).map { .appendStream(try StoreTests.streamMessage("s", 0, UInt64($0))) })
        var interleaved: [StoreWrite] = []
        for offset in UInt64(4)...8 {
            interleaved.append(.appendStream(try StoreTests.streamMessage("s", 0, offset)))
            interleaved.append(.trimStream(stream: "s", partition: 0, before: offset - 2))
        }
        interleaved.append(.appendStream(try StoreTests.streamMessage("s", 1, 9)))
        interleaved.append(.trimStream(stream: "s", partition: 1, before: 10))
        interleaved.append(.saveStreamPartition(stream: "s", partition: 1, epoch: "h", lastOffset: 0))
        interleaved.append(.appendStream(try StoreTests.streamMessage("s", 1, 1)))
        try await write(interleaved)
        store.close()
        let segments = try await DatabaseQueue(path: path).read { db in
            try Int.fetchAll(db, sql: "SELECT partition FROM stream_segment ORDER BY partition, first_offset")
        }
        // Partition 0: the first commit's segment (1...3) trimmed away, the second's (4...8) whole; partition
        // 1: the new epoch's one record.
        #expect(segments == [0, 1])
        store = try SQLiteStore(path: path)
        defer { store.close() }
        let partitions = try #require(try store.load().streams.first?.partitions)
        #expect(partitions[0].messages.map(\.offset) == [6, 7, 8] && partitions[0].lastOffset == 8)
        #expect(partitions[1].epoch == "h" && partitions[1].messages.map(\.offset) == [1])
    }
}
