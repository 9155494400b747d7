import AMQPWire
import BusCore
import BusRuntime
import DequeModule

/// One open channel of a connection (AMQP 0-9-1 §2.2.5): content assembly, its consumers, the delivery
/// tags it handed out and not yet settled, publisher confirms, transactions and `basic.qos`. Confined to
/// the connection's loop.
final class AMQPChannel {
    /// A delivery not yet acked: where to settle it.
    struct Unacked {
        var tag: UInt64
        var host: QueueHost
        var messageID: UInt64
        /// Counted in the channel's window (a consumer's delivery; not a basic.get).
        var windowed: Bool
    }

    /// Where the channel is in its life.
    enum State {
        case open
        /// channel.close sent (an error): frames are dropped until close-ok (§4.2.6-ish, RabbitMQ).
        case closing
    }

    /// What a transaction holds until commit.
    enum TransactionWork {
        case publish(AMQPContentAssembler.Content)
        case ack(tag: UInt64, multiple: Bool)
        case reject(tag: UInt64, multiple: Bool, requeue: Bool)
    }

    let number: UInt16
    var state = State.open
    var assembler: AMQPContentAssembler
    var consumers: [String: AMQPConsumer] = [:]
    /// Unsettled deliveries in tag order (acks mostly settle the oldest, so the front is where they look).
    var unacked: Deque<Unacked> = []
    var nextDeliveryTag: UInt64 = 1
    /// Publisher confirms (`confirm.select`): the next publish's sequence number, and the confirms still
    /// waiting for queues on other loops (sequence → outstanding answers, and whether one refused).
    var confirming = false
    var nextPublishSequence: UInt64 = 1
    var pendingConfirms: [UInt64: (outstanding: Int, refused: Bool)] = [:]
    /// Settled confirms not yet written (sequence → ack), the next sequence to write, and the last written:
    /// they go out in order, coalesced (`flushConfirms`).
    var confirmAnswers: [UInt64: Bool] = [:]
    var nextConfirmToSend: UInt64 = 1
    var lastConfirmWritten: UInt64 = 0
    /// `tx.select`: publishes and settlements wait here until `tx.commit`.
    var transactional = false
    var transaction: [TransactionWork] = []
    /// `basic.qos` prefetch-count for consumers started after it (per consumer, RabbitMQ's reading).
    var prefetchCount = 0
    /// `basic.qos` global: the window the channel's consumers share.
    let window = AMQPChannelWindow()
    /// The channel's direct reply-to consumer, if it started one.
    var directReply: DirectReplyConsumer?
    /// Its inbox on the bus, for replies from other protocols and from other instances.
    var directReplyInbox: BusSubscription?

    init(number: UInt16, limits: AMQPLimits) {
        self.number = number
        self.assembler = AMQPContentAssembler(limits: limits)
    }

    /// Records a delivery that needs an ack; returns its tag.
    func track(host: QueueHost, messageID: UInt64, windowed: Bool = false) -> UInt64 {
        let tag = nextDeliveryTag
        nextDeliveryTag += 1
        unacked.append(Unacked(tag: tag, host: host, messageID: messageID, windowed: windowed))
        return tag
    }

    /// A tag for a delivery that needs none (no-ack).
    func untrackedTag() -> UInt64 {
        let tag = nextDeliveryTag
        nextDeliveryTag += 1
        return tag
    }

    /// Takes the deliveries `tag` settles (with `multiple`, every one up to it; tag 0 with `multiple`:
    /// all of them, §1.8.3.13). nil when the tag is unknown (406 PRECONDITION_FAILED "unknown delivery tag").
    func settle(tag: UInt64, multiple: Bool) -> [Unacked]? {
        if multiple {
            let limit = tag == 0 ? UInt64.max : tag
            guard tag == 0 || unacked.contains(where: { $0.tag == tag }) else { return nil }
            var settled: [Unacked] = []
            while let first = unacked.first, first.tag <= limit {
                settled.append(unacked.removeFirst())
            }
            return settled
        }
        if unacked.first?.tag == tag { return [unacked.removeFirst()] }
        guard let index = unacked.firstIndex(where: { $0.tag == tag }) else { return nil }
        return [unacked.remove(at: index)]
    }

    /// Every unsettled delivery (the channel closes: they go back to their queues).
    func settleAll() -> [Unacked] {
        let all = Array(unacked)
        unacked.removeAll()
        return all
    }
}

extension [AMQPChannel.Unacked] {
    /// Message ids grouped by queue, in order.
    func groupedByHost() -> [(host: QueueHost, ids: [UInt64])] {
        var order: [ObjectIdentifier] = []
        var groups: [ObjectIdentifier: (host: QueueHost, ids: [UInt64])] = [:]
        for entry in self {
            let key = ObjectIdentifier(entry.host)
            if groups[key] == nil {
                order.append(key)
                groups[key] = (entry.host, [])
            }
            groups[key]!.ids.append(entry.messageID)
        }
        return order.map { groups[$0]! }
    }
}
