import BusCore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import Storage

/// The SQLite store checkpoints its WAL after commits, not inside them (`SQLiteCheckpointSchedule`): the
/// WAL stays bounded, and everything committed is there after a restart.
@Suite struct SQLiteCheckpointTests {
    @Test func theWriterCheckpointsTheWALAfterItsCommits() async throws {
        let path = NSTemporaryDirectory() + "checkpoint-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try SQLiteStore(path: path, durability: .noFsync)
        // ~3 pages a row, one commit each: about 4,500 pages through the WAL.
        let rows = 1_500
        let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: 8_000)
        for index in 0..<rows {
            let topic = try Topic("t/\(index)")
            let error: (any Error)? = await withCheckedContinuation { continuation in
                store.submit([.retain(topic: topic, message: BusMessage(topic: topic, payload: body, timestamp: 1))]) {
                    continuation.resume(returning: $0)
                }
            }
            #expect(error == nil)
        }
        #expect(store.statistics.checkpoints >= 2)
        // Checkpointed and begun again from its start: never far past the threshold, not every page written.
        let walBytes = (try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.intValue
        #expect((walBytes ?? 0) < (SQLiteCheckpointSchedule.busyPages + 100) * 4_096)
        store.close()
        let reopened = try SQLiteStore(path: path)
        defer { reopened.close() }
        #expect(try reopened.load().retained.count == rows)
    }

    @Test func housekeepingRunsAfterTheCommitsCompletions() async throws {
        let order = NIOLockedValueBox<[String]>([])
        let queue = GroupCommitQueue(
            name: "test-store", commit: { _ in order.withLockedValue { $0.append("commit") } }, measureDisk: { 0 },
            afterCommit: { busy in
                order.withLockedValue { $0.append("after busy=\(busy)") }
                return true
            })
        defer { queue.close() }
        await withCheckedContinuation { continuation in
            queue.submit([.deleteQueue(name: "q")]) { _ in
                order.withLockedValue { $0.append("completion") }
                continuation.resume()
            }
        }
        let deadline = ContinuousClock.now + .seconds(2)
        while order.withLockedValue({ $0.count }) < 3 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(order.withLockedValue { $0 } == ["commit", "completion", "after busy=false"])
        #expect(queue.currentStatistics.checkpoints == 1)
    }
}

/// A full SQLite database (`maxBytes`, SQLite's `max_page_count`: SQLITE_FULL as on a full disk) stays
/// degraded while idle: its probe must write, as an empty transaction succeeds however full the database
/// is (found with `test_store_faults.py::test_a_disk_that_fills_while_the_server_runs_degrades_it_until_space_is_freed`:
/// `/readyz` said ready again a second after the first refusal while every durable write still failed).
@Suite struct SQLiteDegradedProbeTests {
    @Test func aFullDatabaseStaysDegradedThroughItsProbesUntilSpaceIsFreed() async throws {
        let path = NSTemporaryDirectory() + "full-\(UUID().uuidString).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try SQLiteStore(path: path, durability: .noFsync, maxBytes: 256 * 1024)
        defer { store.close() }
        let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: 8_000)
        func retain(_ index: Int, _ message: Bool = true) async throws -> (any Error)? {
            let topic = try Topic("t/\(index)")
            let write = StoreWrite.retain(
                topic: topic, message: message ? BusMessage(topic: topic, payload: body, timestamp: 1) : nil)
            return await withCheckedContinuation { continuation in
                store.submit([write]) { continuation.resume(returning: $0) }
            }
        }
        var stored = 0
        while try await retain(stored) == nil {
            stored += 1
            try #require(stored < 1_000, "the bound never refused a write")
        }
        #expect(store.statistics.degraded != nil)
        try await Task.sleep(for: .seconds(GroupCommitQueue.probeInterval * 2.5))
        let reason = store.statistics.degraded
        #expect(reason?.contains("full") == true, "a probe said a full database takes commits: \(reason ?? "nil")")
        // Space freed (rows deleted, their pages on the free list): commits succeed and the store is healthy.
        for index in 0..<stored { #expect(try await retain(index, false) == nil) }
        #expect(store.statistics.degraded == nil)
    }
}
