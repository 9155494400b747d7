package import BusCore
package import BusRuntime
import Foundation

/// What a pull consumer knows: where it is in the stream, what it delivered and what waits for an
/// acknowledgement (nats-server's consumer `delivered`, `ack_floor` and pending map). A value: events in
/// (`next`, `acknowledge`), deliveries out; the records come from a reader the caller gives, so the state
/// is tested without a bus.
package struct JetStreamConsumerState: Sendable {
    /// A delivery waiting for its acknowledgement.
    package struct Pending: Sendable, Equatable {
        /// The consumer sequence of its latest delivery.
        package var consumerSequence: UInt64
        /// How many times it was delivered.
        package var deliveries: Int
        /// When it is delivered again unless acknowledged (ns).
        package var deadline: UInt64
    }

    /// One message to send: its record and the numbers of its `$JS.ACK` subject.
    package struct Delivery: Sendable {
        package var streamSequence: UInt64
        package var consumerSequence: UInt64
        package var deliveries: Int
        package var record: StreamReadRecord
    }

    /// What an acknowledgement (`$JS.ACK…` payload) asks.
    package enum Acknowledgement: Sendable, Equatable {
        /// `+ACK` (or empty), `+NXT`.
        case ack
        /// `-NAK`, optionally `{"delay": ns}`: deliver again after the delay.
        case nak(delay: UInt64)
        /// `+WPI`: still working, restart the ack wait.
        case inProgress
        /// `+TERM`: never deliver again.
        case terminate

        /// Reads an acknowledgement payload; nil when it is none of nats-server's.
        package init?(payload: String) {
            let text = payload.trimmingPrefixSpaces()
            if text.isEmpty || text.hasPrefix("+ACK") || text.hasPrefix("+NXT") {
                self = .ack
            } else if text.hasPrefix("-NAK") {
                var delay: UInt64 = 0
                let rest = text.dropFirst(4)
                if let range = rest.range(of: "\"delay\":") {
                    let digits = rest[range.upperBound...].drop { $0 == " " }.prefix { $0.isNumber }
                    delay = UInt64(digits) ?? 0
                }
                self = .nak(delay: delay)
            } else if text.hasPrefix("+WPI") {
                self = .inProgress
            } else if text.hasPrefix("+TERM") {
                self = .terminate
            } else {
                return nil
            }
        }
    }

    package let config: JetStreamConsumerConfig
    package let filters: [TopicFilter]
    /// The next stream sequence to look at for a first delivery.
    package var cursor: UInt64
    package private(set) var deliveredConsumerSequence: UInt64 = 0
    package private(set) var deliveredStreamSequence: UInt64 = 0
    package private(set) var pending: [UInt64: Pending] = [:]
    package private(set) var ackFloorStreamSequence: UInt64 = 0
    package private(set) var ackFloorConsumerSequence: UInt64 = 0
    /// The pending stream sequences, ascending, and the pending deliveries by consumer sequence: where
    /// the two ack floors are, in O(1) amortized per acknowledgement instead of a scan of `pending`.
    private var pendingByStreamSequence = JetStreamDeliveryOrder()
    private var pendingByConsumerSequence = JetStreamDeliveryOrder()
    /// No pending delivery's ack wait ends before this (ns): a lower bound, kept as deadlines are set and
    /// made exact by the scan for due deliveries, so a `next` with nothing due does not scan `pending`.
    private var earliestDeadline: UInt64 = .max
    /// When a client last pulled or acknowledged (ns).
    package var lastActive: UInt64 = 0
    /// `last_per_subject`: the sequences still to deliver before `cursor` (each subject's last message
    /// when the consumer was made), ascending.
    package private(set) var lastPerSubject: [UInt64] = []
    /// Deliveries dropped at `max_deliver` since the service last took them (`takeExhausted`): each is a
    /// `MAX_DELIVERIES` advisory.
    package private(set) var exhausted: [(sequence: UInt64, deliveries: Int)] = []
    /// The last `next` stopped at a record `maxBytes` had no room for.
    package private(set) var stoppedByBytes = false
    /// A push consumer's flow control and heartbeats.
    package var push: JetStreamPushControl
    /// `replay_policy: original` (nats-server's `o.replay`): the records up to this stream sequence (the
    /// stream's newest when the consumer was made) go out with the gaps they were stored with; past it,
    /// or once the consumer caught up, as they come. 0: not replaying.
    package var replayThrough: UInt64 = 0
    /// The stored time of the last record sent while replaying, and when it was sent (ns).
    package private(set) var replayLast: (stored: UInt64, sent: UInt64)?
    /// Set when the last `next` held a record back for its gap: the time it may go (ns).
    package private(set) var replayDue: UInt64?

    /// `lastPerSubject`: what a `last_per_subject` consumer delivers first (`cursor` is then the stream's
    /// next sequence).
    package init(config: JetStreamConsumerConfig, filters: [TopicFilter], cursor: UInt64, lastPerSubject: [UInt64] = [])
    {
        self.config = config
        self.filters = filters
        self.lastPerSubject = lastPerSubject.sorted()
        self.push = JetStreamPushControl(flowControl: config.flowControl, idleHeartbeat: config.idleHeartbeat, now: 0)
        self.cursor = max(cursor, 1)
        // Nothing before the start is ever delivered: the floor starts just below it (nats-server too).
        self.ackFloorStreamSequence = self.cursor - 1
        self.deliveredStreamSequence = self.cursor - 1
    }

    package mutating func takeExhausted() -> [(sequence: UInt64, deliveries: Int)] {
        defer { exhausted.removeAll() }
        return exhausted
    }

    /// Deliveries waiting for an acknowledgement that were delivered more than once.
    package var redeliveredCount: Int { pending.values.reduce(0) { $0 + ($1.deliveries > 1 ? 1 : 0) } }

    /// Whether a record belongs to this consumer (its filters; none is everything).
    package func matches(_ topic: Topic) -> Bool {
        filters.isEmpty || filters.contains { $0.matches(topic) }
    }

    /// Up to `limit` messages to send now: deliveries whose ack wait passed first (oldest first), then new
    /// records from `cursor`, while fewer than `max_ack_pending` wait. `read(from, limit)` gives readable
    /// records at or after a sequence (none: not now). A delivery that reached `max_deliver` is dropped, not sent again.
    /// `maxBytes` bounds what is sent by `size` (a pull request's `max_bytes`): the first record that
    /// does not fit stops the round and sets `stoppedByBytes`; it stays for a later request.
    package mutating func next(
        limit: Int, now: UInt64, maxBytes: Int? = nil, size: (StreamReadRecord) -> Int = { _ in 0 },
        read: (_ from: UInt64, _ limit: Int) -> [StreamReadRecord]
    ) -> [Delivery] {
        var out: [Delivery] = []
        var budget = maxBytes
        stoppedByBytes = false
        replayDue = nil
        func fits(_ record: StreamReadRecord) -> Bool {
            guard let left = budget else { return true }
            let needed = size(record)
            if needed > left { return false }
            budget = left - needed
            return true
        }
        lastActive = now
        let due: [UInt64]
        if now >= earliestDeadline {
            due = pending.compactMap { $0.value.deadline <= now ? $0.key : nil }.sorted()
        } else {
            due = []
        }
        for sequence in due where out.count < limit {
            guard var waiting = pending[sequence] else { continue }
            if config.maxDeliver > 0 && waiting.deliveries >= config.maxDeliver {
                pending[sequence] = nil
                exhausted.append((sequence, waiting.deliveries))
                continue
            }
            // Nothing read: not available now (kept for later). Another sequence: purged or deleted.
            guard let record = read(sequence, 1).first else { continue }
            guard record.offset == sequence else {
                pending[sequence] = nil
                continue
            }
            guard fits(record) else {
                stoppedByBytes = true
                break
            }
            deliveredConsumerSequence += 1
            waiting.consumerSequence = deliveredConsumerSequence
            waiting.deliveries += 1
            waiting.deadline = now + config.ackWait(forDelivery: waiting.deliveries)
            pending[sequence] = waiting
            pendingByConsumerSequence.append(key: deliveredConsumerSequence, streamSequence: sequence)
            out.append(
                Delivery(
                    streamSequence: sequence, consumerSequence: deliveredConsumerSequence,
                    deliveries: waiting.deliveries, record: record))
        }
        // Exact again after the scan: what is still pending (due ones left for later, ones just sent).
        if !due.isEmpty { earliestDeadline = pending.values.lazy.map(\.deadline).min() ?? .max }
        while !stoppedByBytes, out.count < limit, let sequence = lastPerSubject.first {
            guard config.maxAckPending < 0 || pending.count < config.maxAckPending else { break }
            // Nothing read: not available now (kept for later). Another sequence: gone since.
            guard let record = read(sequence, 1).first else { break }
            if record.offset == sequence, !fits(record) {
                stoppedByBytes = true
                break
            }
            lastPerSubject.removeFirst()
            guard record.offset == sequence else { continue }
            out.append(deliverFirst(record, now: now))
        }
        reading: while !stoppedByBytes && out.count < limit && lastPerSubject.isEmpty {
            let room = config.maxAckPending < 0 ? Int.max : config.maxAckPending - pending.count
            guard room > 0 else { break }
            let records = read(cursor, min(limit - out.count, room))
            guard !records.isEmpty else { break }
            for record in records {
                guard matches(record.record.message.topic) else {
                    cursor = record.offset + 1
                    continue
                }
                if let due = replayWait(for: record, now: now) {
                    replayDue = due
                    break reading
                }
                guard fits(record) else {
                    stoppedByBytes = true
                    break reading
                }
                cursor = record.offset + 1
                out.append(deliverFirst(record, now: now))
                if replayThrough > 0 { replayLast = (record.time, now) }
                if out.count >= limit { break }
            }
        }
        // Caught up with what the stream held when the consumer was made: what comes next goes as it comes.
        if replayThrough > 0 && cursor > replayThrough { replayThrough = 0 }
        updateAckFloor()
        return out
    }

    /// While replaying, when `record` may be sent: as long after the last one was sent as it was stored
    /// after it (gaps of a millisecond or less are not waited for, as nats-server); nil: now.
    private func replayWait(for record: StreamReadRecord, now: UInt64) -> UInt64? {
        guard replayThrough > 0, record.offset <= replayThrough, let last = replayLast, record.time > last.stored else {
            return nil
        }
        let gap = record.time - last.stored
        guard gap > 1_000_000 else { return nil }
        let due = last.sent + gap
        return now < due ? due : nil
    }

    /// A record's first delivery: the next consumer sequence, and pending unless acks are off.
    private mutating func deliverFirst(_ record: StreamReadRecord, now: UInt64) -> Delivery {
        deliveredConsumerSequence += 1
        deliveredStreamSequence = record.offset
        if config.ackPolicy != .none {
            let deadline = now + config.ackWait(forDelivery: 1)
            pending[record.offset] = Pending(
                consumerSequence: deliveredConsumerSequence, deliveries: 1, deadline: deadline)
            earliestDeadline = min(earliestDeadline, deadline)
            pendingByStreamSequence.append(key: record.offset, streamSequence: record.offset)
            pendingByConsumerSequence.append(key: deliveredConsumerSequence, streamSequence: record.offset)
        }
        return Delivery(
            streamSequence: record.offset, consumerSequence: deliveredConsumerSequence, deliveries: 1, record: record)
    }

    /// Each subject's last sequence among `records` (offset, topic) that `filters` match (none: all),
    /// ascending: where a `last_per_subject` consumer starts (nats-server's `DeliverLastPerSubject`).
    package static func lastPerSubject(_ records: [(offset: UInt64, topic: Topic)], filters: [TopicFilter]) -> [UInt64]
    {
        var last: [String: UInt64] = [:]
        for record in records where filters.isEmpty || filters.contains(where: { $0.matches(record.topic) }) {
            last[record.topic.name] = max(last[record.topic.name] ?? 0, record.offset)
        }
        return last.values.sorted()
    }

    /// The earliest time a pending delivery's ack wait ends (nil: nothing pending).
    package var nextDeadline: UInt64? { pending.values.map(\.deadline).min() }

    /// Applies an acknowledgement of the delivery of stream sequence `sequence`.
    /// Returns the stream sequences this consumer is now done with (acknowledged or terminated, no
    /// longer pending): what `interest` and `workqueue` retention may let go.
    @discardableResult
    package mutating func acknowledge(_ sequence: UInt64, _ acknowledgement: Acknowledgement, now: UInt64)
        -> [UInt64]
    {
        lastActive = now
        var done: [UInt64] = []
        switch acknowledgement {
        case .ack:
            if config.ackPolicy == .all {
                // Ascending, as `pending`'s keys up to `sequence` sorted.
                for entry in pendingByStreamSequence.removeThrough(sequence)
                where pending.removeValue(forKey: entry.streamSequence) != nil {
                    done.append(entry.streamSequence)
                }
            } else if pending.removeValue(forKey: sequence) != nil {
                done = [sequence]
            }
        case .nak(let delay):
            if pending[sequence] != nil {
                pending[sequence]?.deadline = now + delay
                earliestDeadline = min(earliestDeadline, now + delay)
            }
        case .inProgress:
            if let deliveries = pending[sequence]?.deliveries {
                let deadline = now + config.ackWait(forDelivery: deliveries)
                pending[sequence]?.deadline = deadline
                earliestDeadline = min(earliestDeadline, deadline)
            }
        case .terminate:
            if pending.removeValue(forKey: sequence) != nil { done = [sequence] }
        }
        updateAckFloor()
        return done
    }

    /// Whether this consumer is done with stream sequence `sequence` (a record its filters match): passed
    /// by its cursor, not among its first `last_per_subject` deliveries, and not waiting for an ack.
    package func isDone(with sequence: UInt64) -> Bool {
        sequence < cursor && pending[sequence] == nil && !lastPerSubject.contains(sequence)
    }

    /// Everything at or below the floor is acknowledged (or was never to be): the stream floor is just
    /// below the oldest pending stream sequence, the consumer floor just below the oldest consumer
    /// sequence still pending (a redelivery's newer one replaces its first).
    private mutating func updateAckFloor() {
        guard !pending.isEmpty else {
            ackFloorStreamSequence = deliveredStreamSequence
            ackFloorConsumerSequence = deliveredConsumerSequence
            pendingByStreamSequence.removeAll()
            pendingByConsumerSequence.removeAll()
            earliestDeadline = .max
            return
        }
        let pending = self.pending
        let isPending: (JetStreamDeliveryOrder.Entry) -> Bool = { pending[$0.streamSequence] != nil }
        let isLatestDelivery: (JetStreamDeliveryOrder.Entry) -> Bool = {
            pending[$0.streamSequence]?.consumerSequence == $0.key
        }
        // Every pending delivery has its entries (added where `pending` gets it), so both are found.
        ackFloorStreamSequence = (pendingByStreamSequence.oldest(isLive: isPending)?.key ?? 1) - 1
        ackFloorConsumerSequence = (pendingByConsumerSequence.oldest(isLive: isLatestDelivery)?.key ?? 1) - 1
        pendingByStreamSequence.compact(liveCount: pending.count, isLive: isPending)
        pendingByConsumerSequence.compact(liveCount: pending.count, isLive: isLatestDelivery)
    }
}

extension String {
    fileprivate func trimmingPrefixSpaces() -> Substring { self.drop { $0 == " " } }
}
