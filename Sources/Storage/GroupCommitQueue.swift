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
    /// While degraded and idle, an empty commit tries the database this often, so the store reports
    /// itself healthy again once the database is back even when nothing is written.
    static let probeInterval: TimeInterval = 1

    private let commit: ([StoreWrite]) throws -> Void
    private let measureDisk: () -> UInt64
    private let commitDelay: CommitDelay

    /// `commit` applies every write in one transaction and returns once it is durable.
    init(
        name: String, commitDelay: CommitDelay = .none, commit: @escaping ([StoreWrite]) throws -> Void,
        measureDisk: @escaping () -> UInt64
    ) {
        self.commit = commit
        self.measureDisk = measureDisk
        self.commitDelay = commitDelay
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
        // Whether the last commit just ended (the batch now pending was submitted during it), as opposed to
        // the thread having waited for work.
        var justCommitted = false
        while true {
            condition.lock()
            var probe = false
            while pending.isEmpty && !closed {
                justCommitted = false
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
                    try commit([])
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
            if justCommitted, commitDelay.maximum > 0, statistics.pendingWrites < commitDelay.companions {
                // A small batch that queued during a busy commit waits a moment for company: one commit (one
                // fsync) for it and for what arrives meanwhile, not one each. A store that was idle commits at once.
                let deadline = Date(timeIntervalSinceNow: commitDelay.maximum)
                while statistics.pendingWrites < commitDelay.companions && !closed {
                    if !condition.wait(until: deadline) { break }
                }
            }
            let batches = pending
            pending = []
            condition.unlock()

            let writes = batches.count == 1 ? batches[0].writes : batches.flatMap(\.writes)
            let start = DispatchTime.now().uptimeNanoseconds
            var failure: (any Error)?
            do { try commit(writes) } catch { failure = error }
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            commitsSinceDiskCheck += 1
            let disk: UInt64? = commitsSinceDiskCheck >= 64 ? measureDisk() : nil
            if disk != nil { commitsSinceDiskCheck = 0 }

            condition.lock()
            statistics.pendingWrites -= writes.count
            if let failure {
                statistics.failedCommits += 1
                statistics.degraded = "\(failure)"
            } else {
                statistics.commits += 1
                statistics.committedWrites += UInt64(writes.count)
                statistics.degraded = nil
            }
            if statistics.recentCommitNanos.count >= Self.recentCommitsKept {
                statistics.recentCommitNanos.removeFirst(Self.recentCommitsKept / 2)
            }
            statistics.recentCommitNanos.append(elapsed)
            if let disk { statistics.diskBytes = disk }
            condition.unlock()

            justCommitted = true
            for batch in batches { batch.completion?(failure) }
        }
    }
}

/// A commit delay, as PostgreSQL's `commit_delay` and `commit_siblings`: when a commit ends with only a few
/// writes waiting, they wait up to `maximum` for `companions` writes in all before the next commit starts. Only
/// batches that queued while a commit ran wait; a write to an idle store is committed at once, so a
/// lone writer's latency does not change.
struct CommitDelay: Sendable {
    /// Longest a small batch waits (seconds).
    var maximum: TimeInterval
    /// Writes that make a batch worth committing at once.
    var companions: Int

    /// No delay.
    static let none = CommitDelay(maximum: 0, companions: 0)

    /// The embedded SQLite store's: a commit there costs an `fdatasync` (~0.5–1 ms on the benchmark machine's
    /// disk), and a busy store's next batch is often a small one — the change feeds' appends, submitted right
    /// after the record commit they follow, ahead of the next records still on the wire. Waiting 0.3 ms (a
    /// third of a commit, at most) for 16 writes folded those into the next record batch: records-create went
    /// from 6.7 to 8.3 creates per commit, 4,942 → 6,899 creates/s and p50 1.88 → 1.51 ms
    /// (Benchmarks/analysis.md, "Records creates, first pass").
    static let sqlite = CommitDelay(maximum: 0.000_3, companions: 16)
}
