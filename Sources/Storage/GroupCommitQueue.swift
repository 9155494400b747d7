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

            for batch in batches { batch.completion?(failure) }

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
}
