import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import Storage

/// The writer thread's health: a failed commit makes the store `degraded` with the reason, a good commit
/// clears it, and while degraded and idle an empty probe commit clears it once the database is back, with
/// nothing written.
@Suite struct GroupCommitQueueTests {
    struct Down: Error, CustomStringConvertible {
        var description: String { "the database is down" }
    }

    @Test func aFailedCommitDegradesUntilAProbeSucceeds() async throws {
        let down = NIOLockedValueBox(true)
        let commits = NIOLockedValueBox<[Int]>([])
        let queue = GroupCommitQueue(
            name: "test-store",
            commit: { writes in
                commits.withLockedValue { $0.append(writes.count) }
                if down.withLockedValue({ $0 }) { throw Down() }
            }, measureDisk: { 0 })
        defer { queue.close() }
        #expect(queue.currentStatistics.degraded == nil)

        let failed: (any Error)? = await withCheckedContinuation { continuation in
            queue.submit([.deleteQueue(name: "q")]) { continuation.resume(returning: $0) }
        }
        #expect(failed is Down)
        #expect(queue.currentStatistics.degraded == "the database is down")

        // Still down: the probes fail and it stays degraded.
        try await Task.sleep(for: .seconds(GroupCommitQueue.probeInterval * 1.5))
        #expect(queue.currentStatistics.degraded != nil)
        #expect(commits.withLockedValue { $0.contains(0) }, "an empty probe commit was tried")

        down.withLockedValue { $0 = false }
        let deadline = ContinuousClock.now + .seconds(GroupCommitQueue.probeInterval * 3)
        while queue.currentStatistics.degraded != nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(queue.currentStatistics.degraded == nil, "healthy again with nothing written")
        #expect(queue.currentStatistics.commits == 0, "probes are not counted as commits")
    }

    @Test func aGoodCommitClearsTheDegradedState() async throws {
        let down = NIOLockedValueBox(true)
        let queue = GroupCommitQueue(
            name: "test-store", commit: { _ in if down.withLockedValue({ $0 }) { throw Down() } }, measureDisk: { 0 })
        defer { queue.close() }
        _ = await withCheckedContinuation { continuation in
            queue.submit([.deleteQueue(name: "q")]) { continuation.resume(returning: $0) }
        }
        #expect(queue.currentStatistics.degraded != nil)
        down.withLockedValue { $0 = false }
        let error: (any Error)? = await withCheckedContinuation { continuation in
            queue.submit([.deleteQueue(name: "q")]) { continuation.resume(returning: $0) }
        }
        #expect(error == nil && queue.currentStatistics.degraded == nil)
        #expect(queue.currentStatistics.commits == 1 && queue.currentStatistics.failedCommits == 1)
    }
}
