import BusCore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
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

    /// A commit refused as fenced (`StoreWriterFenced`) fails only the batches appending to the fenced
    /// resources; the others of the same group commit are committed again without them, and the store is
    /// not degraded.
    @Test func aFencedCommitFailsOnlyTheBatchesAppendingToTheFencedResource() async throws {
        let topic = try Topic("fenced/log")
        let resource = try #require(
            StoreOwnedResource.writerResource(
                of: .appendLog(
                    topic: topic, epoch: "e", message: BusMessage(topic: topic, payload: ByteBuffer(), timestamp: 0),
                    keep: 1)))
        let gate = DispatchSemaphore(value: 0)
        let commits = NIOLockedValueBox<[[String]]>([])
        let queue = GroupCommitQueue(
            name: "test-store",
            commit: { writes in
                let names = writes.map { write -> String in
                    if case .deleteQueue(let name) = write { return name }
                    return StoreOwnedResource.writerResource(of: write) == resource ? "append" : "other"
                }
                commits.withLockedValue { $0.append(names) }
                if names == ["first"] { gate.wait() }
                if names.contains("append") { throw StoreWriterFenced(resources: [resource]) }
            }, measureDisk: { 0 })
        defer { queue.close() }
        let results = NIOLockedValueBox<[String: String]>([:])
        let done = DispatchSemaphore(value: 0)
        func submit(_ name: String, _ writes: [StoreWrite]) {
            queue.submit(writes) { error in
                results.withLockedValue { $0[name] = error.map { "\(type(of: $0))" } ?? "ok" }
                done.signal()
            }
        }
        // The first commit holds the thread, so the next three are one group commit.
        submit("first", [.deleteQueue(name: "first")])
        try await Task.sleep(for: .milliseconds(100))
        let append = StoreWrite.appendLog(
            topic: topic, epoch: "e", message: BusMessage(topic: topic, payload: ByteBuffer(), timestamp: 0), keep: 1)
        submit("before", [.deleteQueue(name: "before")])
        submit("fenced", [.deleteQueue(name: "with-append"), append])
        submit("after", [.deleteQueue(name: "after")])
        gate.signal()
        for _ in 0..<4 { done.wait() }
        #expect(
            results.withLockedValue { $0 }
                == ["first": "ok", "before": "ok", "fenced": "StoreWriterFenced", "after": "ok"])
        #expect(
            commits.withLockedValue { $0 }
                == [["first"], ["before", "with-append", "append", "after"], ["before", "after"]])
        #expect(queue.currentStatistics.degraded == nil)
        #expect(queue.currentStatistics.committedWrites == 3)
    }
}
