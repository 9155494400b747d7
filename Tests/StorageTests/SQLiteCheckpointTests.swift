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
