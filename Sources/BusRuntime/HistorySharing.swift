import BusCore
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// Durable topic logs among several instances on one database (PostgreSQL with `shared_instances=true`,
/// docs/storage.md "Several instances on one PostgreSQL database"), as streams' partitions are shared:
///
/// - *One writer per log.* Only the instance holding a durable log's writer claim (`SharedWriterClaims`,
///   kind `history-writer`) reserves offsets in it; a publish elsewhere waits for the claim
///   (`LoopShard.awaitWriter`), which reads the log's tail fresh before this instance appends, so offsets
///   continue after the last writer's and none is written twice.
/// - *Following.* Every commit appending to (or resetting) a log sends `StoreOwnedResource.historyChannel`;
///   the other instances read the log's tail (`StoreSessionOwnership.loadLog`) into their copy, so a client
///   recovering on any instance gets what every instance published, at the writer's offsets.
package final class HistorySharing: Sendable {
    /// How long a publish waits for the claim before it is refused (as streams', 2 s).
    static let writerClaimTimeout = TimeAmount.seconds(2)

    private struct Following {
        /// Topics announced and not read yet.
        var pending: Set<Topic> = []
        var reading = false
    }

    let history: HistoryStore
    let sharing: any StoreSessionOwnership
    let claims: SharedWriterClaims
    private let clock: @Sendable () -> UInt64
    /// Makes the loops' cached plans stale (a log made here by a notification).
    private let invalidate: @Sendable () -> Void
    private let following = NIOLockedValueBox(Following())

    init(
        history: HistoryStore, sharing: any StoreSessionOwnership, store: any Store,
        clock: @escaping @Sendable () -> UInt64, invalidate: @escaping @Sendable () -> Void
    ) {
        self.history = history
        self.sharing = sharing
        self.clock = clock
        self.invalidate = invalidate
        let hooks = SharedWriterClaims.Hooks(
            readFresh: { name, done in
                guard let topic = try? Topic(name), let box = history.log(for: topic, create: false) else {
                    return done(false)
                }
                let point = box.followPoint
                sharing.loadLog(topic, after: point.lastOffset, epoch: point.epoch) { result in
                    switch result {
                    // None stored yet: this instance's copy starts it.
                    case .success(nil): done(true)
                    case .success(let stored?): done(box.follow(stored, now: clock()))
                    case .failure: done(false)
                    }
                }
            },
            setWritable: { name, writable in
                guard let topic = try? Topic(name) else { return }
                history.log(for: topic, create: false)?.setWritable(writable)
            },
            hasUnstored: { name in
                guard let topic = try? Topic(name) else { return false }
                return history.log(for: topic, create: false)?.hasUnstored ?? false
            })
        claims = SharedWriterClaims(
            kind: StoreOwnedResource.historyWriterKind, timeout: Self.writerClaimTimeout, sharing: sharing,
            store: store, hooks: hooks)
        sharing.listen(StoreOwnedResource.historyChannel) { [weak self] payload in self?.announced(payload) }
        sharing.onListenResumed { [weak self] in
            guard let self else { return }
            follow(history.durableLogs().map(\.topic))
        }
    }

    /// Claims `log`'s writer claim; `then` (on a thread of the store's, or at once when held) gets whether
    /// it is held and the log read fresh.
    func claimWriter(_ log: HistoryLogBox, then: @escaping @Sendable (Bool) -> Void) {
        claims.claim(log.topic.name, then: then)
    }

    /// A log notification: `<slot>\n<topic>`. This instance's own are ignored (its copy is what it wrote).
    private func announced(_ payload: String) {
        let parts = payload.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let slot = UInt8(parts[0]), slot != sharing.instanceSlot,
            let topic = try? Topic(String(parts[1]))
        else { return }
        follow([topic])
    }

    /// Reads `topics`' logs again, one at a time (those announced meanwhile join the queue).
    private func follow(_ topics: [Topic]) {
        let start = following.withLockedValue { state -> Bool in
            state.pending.formUnion(topics)
            guard !state.reading else { return false }
            state.reading = true
            return true
        }
        if start { readNext() }
    }

    private func readNext() {
        let next = following.withLockedValue { state -> Topic? in
            guard let topic = state.pending.popFirst() else {
                state.reading = false
                return nil
            }
            return topic
        }
        guard let topic = next else { return }
        // A topic new here gets its log (a client may recover it here), when it keeps durable history.
        guard history.policy.limits(for: topic)?.durable == true else { return readNext() }
        let (made, isNew) = history.demandLog(for: topic, now: clock())
        guard let box = made else { return readNext() }
        if isNew { invalidate() }
        let point = box.followPoint
        sharing.loadLog(topic, after: point.lastOffset, epoch: point.epoch) { [weak self] result in
            guard let self else { return }
            if case .success(let stored?) = result { _ = box.follow(stored, now: clock()) }
            readNext()
        }
    }
}
