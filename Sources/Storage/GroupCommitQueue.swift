import Foundation

/// Runs commits on one thread of its own: batches submitted while a commit runs wait and are committed
/// together by the next one (group commit), in submission order. Each batch's completion runs on this
/// thread once its commit returned.
final class GroupCommitQueue: @unchecked Sendable {
    typealias Completion = @Sendable ((any Error)?) -> Void

    private struct Batch {
        var writes: [StoreWrite]
        var completion: Completion?
    }

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var pending: [Batch] = []
    private var closed = false
    private var finished = false
    private var statistics = StoreStatistics()
    private static let recentCommitsKept = 1024
    /// While degraded and idle, a probe tries the database this often, so the store reports itself
    /// healthy again once the database is back even when nothing is written.
    static let probeInterval: TimeInterval = 1

    private let commit: ([StoreWrite]) throws -> Void
    private let probe: () throws -> Void
    private let measureDisk: () -> UInt64
    private let afterCommit: ((_ busy: Bool) -> Bool)?

    /// `commit` applies every write in one transaction and returns once it is durable. `afterCommit`, when
    /// given, runs on this thread after each good commit's completions — housekeeping that must not hold
    /// a commit's writers up (SQLite's WAL checkpoints) — told whether more batches are waiting, and
    /// answers whether it did anything (counted as `checkpoints`). `probe` says whether the database takes
    /// a commit again while degraded (default: an empty commit, which reaches a database server; SQLite's
    /// must write, as an empty transaction succeeds on a full disk).
    init(
        name: String, commit: @escaping ([StoreWrite]) throws -> Void, measureDisk: @escaping () -> UInt64,
        afterCommit: ((_ busy: Bool) -> Bool)? = nil, probe: (() throws -> Void)? = nil
    ) {
        self.commit = commit
        self.probe = probe ?? { try commit([]) }
        self.measureDisk = measureDisk
        self.afterCommit = afterCommit
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    func submit(_ writes: [StoreWrite], completion: Completion?) {
        condition.lock()
        if closed {
            condition.unlock()
            completion?(StoreError("the store is closed"))
            return
        }
        pending.append(Batch(writes: writes, completion: completion))
        statistics.pendingWrites += writes.count
        condition.signal()
        condition.unlock()
    }

    /// Commits what was submitted, then stops the thread.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    var currentStatistics: StoreStatistics {
        condition.lock()
        defer { condition.unlock() }
        return statistics
    }

    private func run() {
        var commitsSinceDiskCheck = 0
        while true {
            condition.lock()
            var probe = false
            while pending.isEmpty && !closed {
                guard statistics.degraded != nil else {
                    condition.wait()
                    continue
                }
                if !condition.wait(until: Date(timeIntervalSinceNow: Self.probeInterval)) && pending.isEmpty {
                    probe = true
                    break
                }
            }
            if probe {
                condition.unlock()
                let failure: (any Error)?
                do {
                    try self.probe()
                    failure = nil
                } catch { failure = error }
                condition.lock()
                statistics.degraded = failure.map { "\($0)" }
                condition.unlock()
                continue
            }
            if pending.isEmpty {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batches = pending
            pending = []
            condition.unlock()

            let submitted = batches.reduce(0) { $0 + $1.writes.count }
            let start = DispatchTime.now().uptimeNanoseconds
            let (batchesCommitted, failure, fenced) = commitFencing(batches)
            let committedWrites =
                fenced.isEmpty ? submitted : batchesCommitted.reduce(0) { $0 + $1.writes.count }
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            commitsSinceDiskCheck += 1
            let disk: UInt64? = commitsSinceDiskCheck >= 64 ? measureDisk() : nil
            if disk != nil { commitsSinceDiskCheck = 0 }

            condition.lock()
            statistics.pendingWrites -= submitted
            if let failure {
                statistics.failedCommits += 1
                statistics.degraded = "\(failure)"
            } else {
                statistics.commits += 1
                statistics.committedWrites += UInt64(committedWrites)
                statistics.degraded = nil
            }
            if statistics.recentCommitNanos.count >= Self.recentCommitsKept {
                statistics.recentCommitNanos.removeFirst(Self.recentCommitsKept / 2)
            }
            statistics.recentCommitNanos.append(elapsed)
            if let disk { statistics.diskBytes = disk }
            condition.unlock()

            for (batch, error) in fenced { batch.completion?(error) }
            for batch in batchesCommitted { batch.completion?(failure) }

            if let afterCommit, failure == nil {
                condition.lock()
                let busy = !pending.isEmpty
                condition.unlock()
                if afterCommit(busy) {
                    condition.lock()
                    statistics.checkpoints += 1
                    condition.unlock()
                }
            }
        }
    }

    /// Commits `batches` together; when the commit is refused as fenced (`StoreWriterFenced`: appends to
    /// a writer claim another instance took since), the batches appending to those resources fail alone
    /// and the others are committed again. Answers the batches the last commit held, its failure (nil:
    /// committed), and the batches fenced out with their error.
    private func commitFencing(_ batches: [Batch])
        -> (committed: [Batch], failure: (any Error)?, fenced: [(Batch, any Error)])
    {
        var remaining = batches
        var fenced: [(Batch, any Error)] = []
        while true {
            do {
                try commit(remaining.count == 1 ? remaining[0].writes : remaining.flatMap(\.writes))
                return (remaining, nil, fenced)
            } catch let refusal as StoreWriterFenced {
                var kept: [Batch] = []
                for batch in remaining {
                    let hit = batch.writes.contains { write in
                        StoreOwnedResource.writerResource(of: write).map(refusal.resources.contains) ?? false
                    }
                    if hit { fenced.append((batch, refusal)) } else { kept.append(batch) }
                }
                // Nothing to leave out (not expected): fail them all rather than loop.
                guard kept.count < remaining.count else { return (remaining, refusal, fenced) }
                remaining = kept
                if remaining.isEmpty { return ([], nil, fenced) }
            } catch {
                return (remaining, error, fenced)
            }
        }
    }
}
