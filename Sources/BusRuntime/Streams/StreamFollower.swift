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
        let result = partition.read(
            from: next, limit: Self.batch, maxBytes: Self.batchBytes, now: bus.clock())
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
            result.messages = lastMatching(count, in: partition, epoch: info.epoch, subscription: subscription)
        case .recover(let position, let fallback):
            if position.epoch == info.epoch, position.offset + 1 >= info.firstOffset {
                result.recovered = true
                // The follower delivers the missed records itself, in batches, right after the answer.
                next = min(position.offset + 1, next)
                result.position = LogPosition(offset: next - 1, epoch: info.epoch)
            } else {
                result.recovered = false
                result.messages = lastMatching(fallback, in: partition, epoch: info.epoch, subscription: subscription)
            }
        }
        let follower = StreamFollower(
            bus: self, box: box, epoch: info.epoch, from: next, subscription: subscription, ended: ended)
        follower.start()
        return result
    }

    /// The newest `count` records of `partition` the subscription may receive, oldest first, positioned.
    /// Reads backwards a window at a time, so a stream where the filter's topics are rare costs a bounded
    /// number of windows (64), not a scan of the whole log.
    private func lastMatching(
        _ count: Int, in partition: StreamPartitionBox, epoch: String, subscription: BusSubscription
    ) -> [BusMessage] {
        guard count > 0 else { return [] }
        let info = partition.info
        var found: [BusMessage] = []
        var end = info.lastOffset + 1
        let window = UInt64(max(count, 256))
        var windows = 0
        while end > info.firstOffset, found.count < count, windows < 64 {
            let start = end > info.firstOffset + window ? end - window : info.firstOffset
            let read = partition.read(from: start, limit: Int(end - start), maxBytes: .max, now: clock())
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
}
