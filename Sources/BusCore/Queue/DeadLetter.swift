/// A message that left a queue without being acknowledged: expired, rejected, pushed out by a length limit.
/// The caller republishes it to `exchange` with `routingKeys` (adding the `x-death` entry that
/// `DeathRecord.recording` computes), or, when `exchange` is nil (the queue has no dead-letter exchange),
/// just discards it — and deletes it from storage if it was persistent, in both cases.
package struct DeadLetter<Payload> {
    /// The message as it left (its original exchange and routing keys included).
    package var message: QueueMessage<Payload>
    /// Why it left (`x-death` `reason`).
    package var reason: DeadLetterReason
    /// The queue it left (`x-death` `queue`).
    package var queue: String
    /// Where to republish it (`x-dead-letter-exchange`); nil: nowhere, the message is dropped.
    package var exchange: String?
    /// The routing keys to republish with: `x-dead-letter-routing-key`, else the message's own.
    package var routingKeys: [String]

    package init(
        message: QueueMessage<Payload>, reason: DeadLetterReason, queue: String, exchange: String?,
        routingKeys: [String]
    ) {
        self.message = message
        self.reason = reason
        self.queue = queue
        self.exchange = exchange
        self.routingKeys = routingKeys
    }

    /// The `x-death` entry this death adds, at `time` (ns).
    package func deathRecord(time: UInt64) -> DeathRecord {
        DeathRecord(
            queue: queue, reason: reason, count: 1, exchange: message.exchange, routingKeys: message.routingKeys,
            time: time)
    }
}

extension DeadLetter: Equatable where Payload: Equatable {}
extension DeadLetter: Sendable where Payload: Sendable {}

/// Why a message was dead-lettered, spelled as RabbitMQ's `x-death` `reason`.
package enum DeadLetterReason: String, Sendable, Hashable {
    /// Rejected or nacked without requeue.
    case rejected
    /// Its time to live ran out at the head of the queue.
    case expired
    /// Pushed out by `x-max-length` / `x-max-length-bytes` (drop-head), or refused by reject-publish-dlx.
    case maxLength = "maxlen"
    /// Delivered more often than `x-delivery-limit` (quorum queues only; classic queues never use it).
    case deliveryLimit = "delivery_limit"
}
