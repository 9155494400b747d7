package import BusCore
import NIOCore

/// Delivers one stream partition's records to one subscription, in offset order, from a position on:
/// how a subscription on a filter a stream covers gets history and resumes after a reconnect (wildcard
/// recovery, docs/topics.md). Its messages carry their stream position (offset + epoch), so the client
/// can resume from the last one it saw; and since every message comes out of the stream, the switch from
/// history to live can neither lose nor repeat one. Live messages arrive once stored (a `file` stream's
/// group commit), not at publish.
///
/// Confined to the subscriber's loop. It reads a batch, delivers it, yields the loop and reads on; at the
/// end it waits for the partition's next record. A delivery the slow-consumer policy drops is not lost:
/// the follower backs off and reads it again. It stops when the subscription ends, or when the stream is
/// deleted or its partition starts a new epoch (`ended` is then called once).
final class StreamFollower {
    private let bus: Bus
    private let box: StreamBox
    private let partition: StreamPartitionBox
    private let epoch: String
    private let subscription: BusSubscription
    private let loop: any EventLoop
    private let ended: ((String) -> Void)?
    private var next: UInt64
    private var scheduled = false
    private var backoff: Int64 = 0

    static let batch = 256
    static let batchBytes = 1 << 20
    /// How often an idle follower checks that its stream still exists (a delete does not wake it).
    static let recheck = TimeAmount.seconds(5)

    init(
        bus: Bus, box: StreamBox, epoch: String, from next: UInt64, subscription: BusSubscription,
        ended: ((String) -> Void)?
    ) {
        self.bus = bus
        self.box = box
        self.partition = box.partitions[0]
        self.epoch = epoch
        self.next = next
        self.subscription = subscription
        self.loop = subscription.subscriber.eventLoop
        self.ended = ended
    }

    /// Starts reading on the next turn of the loop (after the subscribe answer is written).
    func start() {
        schedule()
    }

    private func schedule() {
        guard !scheduled else { return }
        scheduled = true
        loop.execute { [self] in
            scheduled = false
            pump()
        }
    }

    private func pump() {
        guard subscription.isActive else { return }
        // Live (the partition's tail): at once. Behind it, the bodies come from the store, off the loop.
        if let result = partition.readNow(from: next, limit: Self.batch, maxBytes: Self.batchBytes, now: bus.clock()) {
            return deliver(result)
        }
        partition.read(from: next, limit: Self.batch, maxBytes: Self.batchBytes, now: bus.clock(), on: loop)
            .whenComplete { [self] outcome in
                switch outcome {
                case .success(let result):
                    guard subscription.isActive else { return }
                    deliver(result)
                case .failure:
                    retryLater()
                }
            }
    }

    private func deliver(_ result: StreamReadResult) {
        guard result.partition.epoch == epoch, bus.streams.stream(named: box.name) === box else {
            return end("stream \(box.name) was deleted or reset")
        }
        guard let last = result.records.last else { return wait() }
        let subscriber = subscription.subscriber
        let shard = bus.shard(for: loop)
        var delivered = false
        for record in result.records {
            let message = record.record.message
            guard message.isPublication, subscription.filter.matches(message.topic) else { continue }
            if let acl = subscription.options.readACL, !acl.permitsReading(message.topic) { continue }
            if let sessions = subscription.options.sessions, !sessions.permitsReading(message.topic) { continue }
            if message.expiresAt <= bus.clock() { continue }
            let positioned = message.positioned(at: LogPosition(offset: record.offset, epoch: epoch))
            var context = DeliveryContext(message: positioned)
            if let viewer = subscription.options.viewer, !context.mayView(viewer, bus.records) { continue }
            if let filter = subscription.options.contentFilter,
                !context.matches(filter, viewer: subscription.options.viewer, now: bus.clock())
            {
                continue
            }
            switch subscriber.deliver(positioned, for: subscription, context: &context) {
            case .delivered(let bytes):
                shard.stats.delivered(slot: subscription.metricsSlot, bytes: bytes)
                delivered = true
            case .dropped:
                // Not writable: read it again after a pause rather than lose it.
                if delivered { subscriber.flushDeliveries() }
                next = record.offset
                return retryLater()
            case .skipped:
                break
            }
        }
        if delivered { subscriber.flushDeliveries() }
        next = last.offset + 1
        backoff = 0
        schedule()
    }

    private func wait() {
        partition.waitForRecords(from: next, timeout: Self.recheck, on: loop).whenComplete { [self] _ in pump() }
    }

    private func retryLater() {
        backoff = min(max(backoff * 2, 5), 500)
        loop.scheduleTask(in: .milliseconds(backoff)) { [self] in pump() }
    }

    private func end(_ reason: String) {
        guard subscription.isActive else { return }
        subscription.isActive = false
        ended?(reason)
    }
}

extension Bus {
    /// `subscribe` for a filter with wildcards that asked for history or recovery, when a stream covers
    /// it (`StreamRegistry.covering`): the subscription follows that stream instead of the routing table.
    /// History is read from the stream (the newest `count` matching records, or everything after a
    /// position in the same epoch), live messages come from it after, each positioned in it.
    func follow(
        _ box: StreamBox, subscription: BusSubscription, history request: HistoryRequest,
        ended: ((String) -> Void)?
    ) -> SubscribeResult {
        let partition = box.partitions[0]
        let info = partition.info
        var result = SubscribeResult(subscription: subscription)
        result.position = LogPosition(offset: info.lastOffset, epoch: info.epoch)
        var next = info.lastOffset + 1
        switch request {
        case .last(let count):
            if let messages = lastMatching(count, in: partition, epoch: info.epoch, subscription: subscription) {
                result.messages = messages
            } else {
                // Older than what the partition keeps in memory: the follower delivers them (from the store),
                // positioned, right after the answer.
                next = lastMatchingStart(count, in: partition, subscription: subscription)
                result.position = LogPosition(offset: next - 1, epoch: info.epoch)
            }
        case .recover(let position, let fallback):
            if position.epoch == info.epoch, position.offset + 1 >= info.firstOffset {
                result.recovered = true
                // The follower delivers the missed records itself, in batches, right after the answer.
                next = min(position.offset + 1, next)
                result.position = LogPosition(offset: next - 1, epoch: info.epoch)
            } else {
                result.recovered = false
                if let messages = lastMatching(fallback, in: partition, epoch: info.epoch, subscription: subscription) {
                    result.messages = messages
                } else {
                    next = lastMatchingStart(fallback, in: partition, subscription: subscription)
                    result.position = LogPosition(offset: next - 1, epoch: info.epoch)
                }
            }
        }
        let follower = StreamFollower(
            bus: self, box: box, epoch: info.epoch, from: next, subscription: subscription, ended: ended)
        follower.start()
        return result
    }

    /// The newest `count` records of `partition` the subscription may receive, oldest first, positioned.
    /// Reads backwards a window at a time, so a stream where the filter's topics are rare costs a bounded
    /// number of windows (64), not a scan of the whole log. Nil when a window reaches records whose bodies
    /// the partition no longer keeps in memory (`lastMatchingStart` then).
    private func lastMatching(
        _ count: Int, in partition: StreamPartitionBox, epoch: String, subscription: BusSubscription
    ) -> [BusMessage]? {
        guard count > 0 else { return [] }
        let info = partition.info
        var found: [BusMessage] = []
        var end = info.lastOffset + 1
        let window = UInt64(max(count, 256))
        var windows = 0
        while end > info.firstOffset, found.count < count, windows < 64 {
            let start = end > info.firstOffset + window ? end - window : info.firstOffset
            guard let read = partition.readNow(from: start, limit: Int(end - start), maxBytes: .max, now: clock())
            else {
                return nil
            }
            var matching: [BusMessage] = []
            for record in read.records where record.offset < end {
                let message = record.record.message
                guard message.isPublication, subscription.filter.matches(message.topic) else { continue }
                if let acl = subscription.options.readACL, !acl.permitsReading(message.topic) { continue }
                if let sessions = subscription.options.sessions, !sessions.permitsReading(message.topic) { continue }
                if !records.admits(message, subscription.options) { continue }
                matching.append(message.positioned(at: LogPosition(offset: record.offset, epoch: epoch)))
            }
            found = matching + found
            end = start
            windows += 1
        }
        return Array(found.suffix(count))
    }

    /// The offset from which the newest `count` records on topics the subscription may receive start,
    /// found from the index (the same bounded windows as `lastMatching`): where a follower starts when
    /// those records' bodies are in the store only.
    private func lastMatchingStart(_ count: Int, in partition: StreamPartitionBox, subscription: BusSubscription)
        -> UInt64
    {
        let info = partition.info
        var end = info.lastOffset + 1
        guard count > 0 else { return end }
        let window = UInt64(max(count, 256))
        var found = 0
        var windows = 0
        while end > info.firstOffset, windows < 64 {
            let start = end > info.firstOffset + window ? end - window : info.firstOffset
            let read = partition.readIndex(from: start, limit: Int(end - start), now: clock())
            for record in read.records.reversed() where record.offset < end {
                let topic = record.topic
                guard subscription.filter.matches(topic) else { continue }
                if let acl = subscription.options.readACL, !acl.permitsReading(topic) { continue }
                if let sessions = subscription.options.sessions, !sessions.permitsReading(topic) { continue }
                found += 1
                if found == count { return record.offset }
            }
            end = start
            windows += 1
        }
        return end
    }
}
