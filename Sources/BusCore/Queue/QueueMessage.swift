/// One message in a queue, with what the queue needs to know about it; the payload is the caller's (the
/// AMQP frontend keeps its body and properties there). Values: the queue hands out copies in deliveries,
/// `basic.get` replies and dead letters.
package struct QueueMessage<Payload> {
    /// Queue-local and increasing (1, 2, …; never reused while the queue lives): acks, nacks and storage
    /// keys name a message by it, and requeued messages go back in its order. 0 marks a message the queue
    /// refused (never stored).
    package let id: UInt64
    package var payload: Payload
    /// Payload size, counted against `maxLengthBytes`.
    package let bytes: Int
    /// The priority it is queued at: the publisher's, capped at the queue's `maxPriority` (0 without one).
    package let priority: UInt8
    /// When it expires (ns); `UInt64.max` never. Set at enqueue from the queue's and the message's TTL.
    package let deadline: UInt64
    /// Carried for the caller (`delivery-mode` 2): the queue itself keeps nothing on disk.
    package let persistent: Bool
    /// The exchange it was published to, for `basic.deliver` and dead-lettering.
    package let exchange: String
    /// The routing keys it was published with (the routing key, then `CC`): for `basic.deliver` and, without
    /// `x-dead-letter-routing-key`, dead-lettering. One publish shares one array across all its queues.
    package let routingKeys: [String]
    /// It was delivered before and came back (AMQP `redelivered`).
    package var redelivered: Bool
    /// How many times it has been delivered (quorum queues' `x-delivery-count`; informative here).
    package var deliveryCount: UInt32

    package init(
        id: UInt64, payload: Payload, bytes: Int, priority: UInt8, deadline: UInt64, persistent: Bool,
        exchange: String, routingKeys: [String], redelivered: Bool = false, deliveryCount: UInt32 = 0
    ) {
        self.id = id
        self.payload = payload
        self.bytes = bytes
        self.priority = priority
        self.deadline = deadline
        self.persistent = persistent
        self.exchange = exchange
        self.routingKeys = routingKeys
        self.redelivered = redelivered
        self.deliveryCount = deliveryCount
    }
}

extension QueueMessage: Equatable where Payload: Equatable {}
extension QueueMessage: Sendable where Payload: Sendable {}
