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

    /// A write to an idle store is committed at once; writes that queued during a commit wait for company
    /// and go in one commit with what arrives meanwhile. (The delay is long, so nothing here depends on
    /// how fast the machine is: a store that waited where it must not would take 10 s.)
    @Test func aSmallBatchQueuedDuringACommitWaitsForCompany() async throws {
        let gate = DispatchSemaphore(value: 0)
        // Each commit's size and when it started (timed on the writer's own thread, so a busy test pool
        // does not count).
        let commits = NIOLockedValueBox<[(count: Int, at: ContinuousClock.Instant)]>([])
        let queue = GroupCommitQueue(
            name: "test-store", commitDelay: CommitDelay(maximum: 10, companions: 2),
            commit: { writes in
                let first = commits.withLockedValue { commits in
                    commits.append((writes.count, ContinuousClock.now))
                    return commits.count == 1
                }
                if first { gate.wait() }
            }, measureDisk: { 0 })
        defer { queue.close() }
        let done = NIOLockedValueBox(0)
        let submit = { queue.submit([.deleteQueue(name: "q")]) { _ in done.withLockedValue { $0 += 1 } } }
        let start = ContinuousClock.now
        submit()  // idle: its commit starts at once (and is held at the gate)
        while commits.withLockedValue({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(1)) }
        submit()  // queued during the commit: waits for a second write
        gate.signal()
        try await Task.sleep(for: .milliseconds(20))
        #expect(done.withLockedValue { $0 } == 1)
        let third = ContinuousClock.now
        submit()
        while done.withLockedValue({ $0 }) < 3 { try await Task.sleep(for: .milliseconds(5)) }
        let made = commits.withLockedValue { $0 }
        #expect(made.map(\.count) == [1, 2])
        #expect(made[0].at - start < .seconds(5), "an idle store does not wait")
        #expect(made[1].at - third < .seconds(5), "the company, not the deadline, ended the wait")
    }

    @Test func withoutADelayEveryBatchFoundIsCommittedAtOnce() async throws {
        let gate = DispatchSemaphore(value: 0)
        let commits = NIOLockedValueBox<[Int]>([])
        let queue = GroupCommitQueue(
            name: "test-store",
            commit: { writes in
                let first = commits.withLockedValue { commits in
                    commits.append(writes.count)
                    return commits.count == 1
                }
                if first { gate.wait() }
            }, measureDisk: { 0 })
        defer { queue.close() }
        let done = NIOLockedValueBox(0)
        let submit = { queue.submit([.deleteQueue(name: "q")]) { _ in done.withLockedValue { $0 += 1 } } }
        submit()
        while commits.withLockedValue({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(1)) }
        submit()
        gate.signal()
        while done.withLockedValue({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(20))
        submit()
        while done.withLockedValue({ $0 }) < 3 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(commits.withLockedValue { $0 } == [1, 1, 1])
    }
}
