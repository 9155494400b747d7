import Atomics
package import BusCore
import NIOConcurrencyHelpers
import NIOCore
package import Storage

/// One topic's log behind its own lock (appends from any loop, reads from any loop).
package final class HistoryLogBox: Sendable {
    /// The log, when it was last used, and whether the store has let it go (`HistoryStore.evictIdle`).
    struct State {
        var log: HistoryLog<BusMessage>
        /// Wall-clock nanoseconds of the last append, read, subscribe or unsubscribe.
        var lastActivity: UInt64
        /// Evicted: no longer the topic's log. Nothing is appended to it any more; a publisher holding it
        /// looks the topic up again (and finds a new log, in a new epoch, or none).
        var evicted = false
        /// Whether this instance may append (`reserve`): always, unless several instances share the store,
        /// when only the holder of the log's writer claim may (HistoryLogBox+Sharing.swift).
        var writable = true
    }

    package let topic: Topic
    package let limits: HistoryLimits
    let log: NIOLockedValueBox<State>
    /// The shard that sequences the log (`LoopShard.MatchPlan.owner`): the first to route a publication
    /// to it claims it, once (-1 until then). A topic's first publisher is usually its only one, so its
    /// publications are appended and routed on its own loop, with no hop to another.
    private let ownerClaim = ManagedAtomic(-1)
    /// With an engine: the log is a window of the log every instance shares (its epoch and offsets are
    /// Redis's), set by `adopt` or the first sequenced message (HistoryLogBox+Shared.swift).
    let sharedFlag = ManagedAtomic(false)

    init(topic: Topic, epoch: String, limits: HistoryLimits, now: UInt64 = 0, writable: Bool = true) {
        self.topic = topic
        self.limits = limits
        log = NIOLockedValueBox(
            State(log: HistoryLog(epoch: epoch, limits: limits), lastActivity: now, writable: writable))
    }

    /// A durable log resumed from the store, with the messages it still keeps.
    init(restoring stored: StoredLog, limits: HistoryLimits, now: UInt64, writable: Bool = true) {
        self.topic = stored.topic
        self.limits = limits
        let start = stored.messages.first.map { $0.offset - 1 } ?? stored.lastOffset
        var log = HistoryLog<BusMessage>(epoch: stored.epoch, limits: limits, lastOffset: start)
        for message in stored.messages {
            log.append(
                message, at: message.offset, bytes: message.payload.readableBytes, time: message.timestamp, now: now)
        }
        self.log = NIOLockedValueBox(State(log: log, lastActivity: now, writable: writable))
    }

    package var durable: Bool { limits.durable }

    /// The log's owning shard, which `shard` becomes when none has claimed it yet. Fixed for the log's life,
    /// so its appends and deliveries keep one order (a new log after an eviction may get another owner).
    func owner(claimingFor shard: Int) -> Int {
        let (exchanged, original) = ownerClaim.compareExchange(
            expected: -1, desired: shard, ordering: .acquiringAndReleasing)
        return exchanged ? shard : original
    }

    /// Appends and returns the message stamped with its position; nil when the log was evicted (the
    /// caller looks the topic's log up again).
    func append(_ message: BusMessage, now: UInt64) -> BusMessage? {
        let kept = Self.compacted(message)
        return log.withLockedValue { state in
            guard !state.evicted else { return nil }
            state.lastActivity = now
            return state.log.append(bytes: kept.payload.readableBytes, now: now) { kept.positioned(at: $0) }
        }
    }

    /// A durable log's next position: the message stamped with it, to be stored and then appended with
    /// `appendStored` (readers see it only then). Nil when this instance does not hold the log's writer
    /// claim (several instances share the store).
    func reserve(_ message: BusMessage) -> BusMessage? {
        let kept = Self.compacted(message)
        let position = log.withLockedValue { $0.writable ? $0.log.reserve() : nil }
        return position.map { kept.positioned(at: $0) }
    }

    /// Appends a reserved message once it is stored. False when the log moved to another epoch meanwhile
    /// (a failed commit reset it): the message is not part of the log.
    func appendStored(_ message: BusMessage, now: UInt64) -> Bool {
        log.withLockedValue { state in
            guard message.position?.epoch == state.log.epoch else { return false }
            state.lastActivity = now
            return state.log.append(
                message, at: message.offset, bytes: message.payload.readableBytes, time: message.timestamp, now: now)
        }
    }

    /// How many messages up to `offset` the stored copy needs to keep: the count bound, or fewer when the
    /// in-memory log has already trimmed by bytes or age (so those bounds reach the store too).
    func storedKeep(through offset: UInt64) -> Int {
        log.withLockedValue { state in
            guard let first = state.log.firstOffset, offset >= first else { return limits.count }
            return max(1, min(limits.count, Int(offset - first + 1)))
        }
    }

    /// Takes back a reserved message that could not be stored, so the log's next message gets its offset:
    /// true when done or when the log has moved to another epoch meanwhile (nothing to take back); false
    /// when a later reservation is outstanding, so the offset cannot be handed out again.
    func release(_ message: BusMessage) -> Bool {
        log.withLockedValue { state in
            guard message.position?.epoch == state.log.epoch else { return true }
            return state.log.releaseReservation(message.offset)
        }
    }

    /// Starts the log again in `epoch` (the durable copy could not be kept in step with it).
    func reset(epoch: String) {
        log.withLockedValue { $0.log = HistoryLog(epoch: epoch, limits: limits) }
    }

    /// A payload sliced from a read buffer (NATS, MQTT) would keep the whole buffer alive for as long
    /// as the log keeps the message: such payloads are copied once, on the way into the log.
    private static func compacted(_ message: BusMessage) -> BusMessage {
        let payload = message.payload
        return payload.storageCapacity > 2 * payload.readableBytes + 512
            ? message.withPayload(ByteBuffer(buffer: payload)) : message
    }

    /// Runs `body` with the log locked (reads, and recovery's read-and-mark).
    package func withLog<T>(now: UInt64, _ body: (inout HistoryLog<BusMessage>) -> T) -> T {
        log.withLockedValue { state in
            state.lastActivity = max(state.lastActivity, now)
            state.log.trim(now: now)
            return body(&state.log)
        }
    }

    /// Marks the log used at `now` (a subscriber of its topic left: recovery stays possible for the
    /// log's age from here).
    func touch(now: UInt64) {
        log.withLockedValue { $0.lastActivity = max($0.lastActivity, now) }
    }

    /// What eviction needs to know, trimmed to `now`: the estimated memory held (`HistoryStore.estimatedBytes`),
    /// the last activity, and whether the log is idle by its age (nothing done with it within its age).
    func usage(now: UInt64) -> (bytes: Int, lastActivity: UInt64, expired: Bool) {
        log.withLockedValue { state in
            state.log.trim(now: now)
            let bytes =
                HistoryStore.logOverheadBytes + state.log.count * HistoryStore.messageOverheadBytes
                + state.log.totalBytes
            let expired = limits.maxAgeSeconds.map { age in
                now > state.lastActivity && now - state.lastActivity > UInt64(age * 1e9)
            }
            return (bytes, state.lastActivity, expired ?? false)
        }
    }

    /// Takes the log out of use (under the store's lock, after the shards' plans were made stale).
    func markEvicted() {
        log.withLockedValue { $0.evicted = true }
    }
}

/// Every topic log, created on first publish for topics the policy says keep history. Bounded twice:
/// by the number of logs and by an estimate of the memory they hold; idle logs are evicted
/// (`evictIdle`, HistoryStore+Eviction.swift).
package final class HistoryStore: Sendable {
    package let policy: HistoryPolicy
    /// Most topic logs kept; past it, new topics keep no history (bounded memory whatever names clients use).
    package let maxLogs: Int
    /// Most memory all logs together may hold, estimated (`estimatedBytes`): past it the least recently used
    /// logs nobody is subscribed to are evicted, and while it stays past it new topics keep no history.
    package let maxBytes: Int
    let logs = NIOLockedValueBox(LogTable())
    /// Set by each eviction pass: the logs held more than `maxBytes` even after it (read on log creation).
    let overBudget = ManagedAtomic(false)
    /// The memory all logs held at the last eviction pass, estimated, and how many logs were evicted so far.
    let lastEstimate = ManagedAtomic(0)
    let evictions = ManagedAtomic(0)
    private let makeEpoch: @Sendable () -> String
    /// Several instances share the store: a durable log is appended to only by the instance holding its
    /// writer claim, so a new one starts not writable here (`HistoryWriterClaims`).
    package let sharedWriters: Bool

    /// What a log costs besides its messages (the box, its lock, the map entry, the epoch), estimated.
    static let logOverheadBytes = 512
    /// What a kept message costs besides its payload (its entry, `BusMessage`, topic and headers), estimated.
    static let messageOverheadBytes = 256

    package init(
        policy: HistoryPolicy, maxLogs: Int = 100_000, maxBytes: Int = .max, sharedWriters: Bool = false,
        makeEpoch: @escaping @Sendable () -> String
    ) {
        self.policy = policy
        self.sharedWriters = sharedWriters
        self.maxLogs = maxLogs
        self.maxBytes = maxBytes
        self.makeEpoch = makeEpoch
    }

    /// The topic's log, or nil when the topic keeps no history (or the store is full). `create` makes a
    /// missing log — except one an on-demand rule governs (`HistoryLimits.onDemand`), which only
    /// `demandLog` makes.
    package func log(for topic: Topic, create: Bool, now: UInt64 = 0) -> HistoryLogBox? {
        guard let limits = policy.limits(for: topic) else { return nil }
        return logs.withLockedValue { logs in
            if let box = logs[topic] { return box }
            guard create, !limits.onDemand, logs.count < maxLogs, !overBudget.load(ordering: .relaxed) else {
                return nil
            }
            let box = HistoryLogBox(
                topic: topic, epoch: makeEpoch(), limits: limits, now: now, writable: writable(limits))
            logs[topic] = box
            return box
        }
    }

    /// The topic's log, made if missing whatever its rule (a client that can resume follows the topic, or
    /// its history is read), and whether this call made it: the caller then makes the loops' cached plans
    /// stale, so publishers append to it from now on.
    package func demandLog(for topic: Topic, now: UInt64 = 0) -> (log: HistoryLogBox?, made: Bool) {
        guard let limits = policy.limits(for: topic) else { return (nil, false) }
        return logs.withLockedValue { logs in
            if let box = logs[topic] { return (box, false) }
            guard logs.count < maxLogs, !overBudget.load(ordering: .relaxed) else { return (nil, false) }
            let box = HistoryLogBox(
                topic: topic, epoch: makeEpoch(), limits: limits, now: now, writable: writable(limits))
            logs[topic] = box
            return (box, true)
        }
    }

    /// Whether a topic of `family` (topics that differ only in their last level) has a log: a loop shares
    /// one cached plan among a family's topics only while none does (`LoopShard.lookUpPlan`; a log made
    /// later makes every cached plan stale).
    package func hasLogs(in family: TopicFamily) -> Bool {
        logs.withLockedValue { $0.hasLogs(in: family) }
    }

    package func newEpoch() -> String { makeEpoch() }

    /// Whether a new log under `limits` takes appends here at once: not a durable one while several
    /// instances share the store (its writer claim is taken first).
    private func writable(_ limits: HistoryLimits) -> Bool { !(sharedWriters && limits.durable) }

    /// What `restore` did.
    package struct Restored: Sendable {
        package var logs = 0
        package var messages = 0
        /// Logs that came back damaged and start a new epoch.
        package var reset = 0
        /// Stored logs whose topic no longer keeps durable history (left as they are).
        package var ignored = 0
    }

    /// Resumes the durable logs from the store (before any publish). A log whose stored copy is not
    /// intact starts a new epoch, written back as a reset, so clients are told to start over.
    package func restore(_ stored: [StoredLog], now: UInt64, store: any Store) -> Restored {
        var restored = Restored()
        var resets: [StoreWrite] = []
        logs.withLockedValue { logs in
            for log in stored {
                guard let limits = policy.limits(for: log.topic), limits.durable, logs.count < maxLogs else {
                    restored.ignored += 1
                    continue
                }
                if log.intact {
                    logs[log.topic] = HistoryLogBox(
                        restoring: log, limits: limits, now: now, writable: !sharedWriters)
                    restored.messages += log.messages.count
                } else {
                    let epoch = makeEpoch()
                    logs[log.topic] = HistoryLogBox(
                        topic: log.topic, epoch: epoch, limits: limits, writable: !sharedWriters)
                    resets.append(.resetLog(topic: log.topic, epoch: epoch))
                    restored.reset += 1
                }
                restored.logs += 1
            }
        }
        if !resets.isEmpty { store.submit(resets) }
        return restored
    }

    /// The durable logs.
    package func durableLogs() -> [HistoryLogBox] {
        logs.withLockedValue { logs in logs.values.filter(\.durable) }
    }

    /// The durable logs with an age bound (for background retention).
    package func durableLogsWithAgeLimit() -> [HistoryLogBox] {
        logs.withLockedValue { logs in logs.values.filter { $0.durable && $0.limits.maxAgeSeconds != nil } }
    }

    package var topicCount: Int { logs.withLockedValue { $0.count } }
}

/// The logs by topic, with how many each topic family has (`HistoryStore.hasLogs(in:)`).
struct LogTable {
    private(set) var byTopic: [Topic: HistoryLogBox] = [:]
    private var perFamily: [TopicFamily: Int] = [:]

    subscript(topic: Topic) -> HistoryLogBox? {
        get { byTopic[topic] }
        set {
            let existed =
                if let newValue { byTopic.updateValue(newValue, forKey: topic) != nil } else {
                    byTopic.removeValue(forKey: topic) != nil
                }
            guard existed != (newValue != nil), let family = TopicFamily(topic) else { return }
            let count = (perFamily[family] ?? 0) + (newValue == nil ? -1 : 1)
            perFamily[family] = count > 0 ? count : nil
        }
    }

    var count: Int { byTopic.count }
    var values: Dictionary<Topic, HistoryLogBox>.Values { byTopic.values }

    func hasLogs(in family: TopicFamily) -> Bool { perFamily[family] != nil }
}
