package import BusCore

/// One message on its way into a queue, with what the queue needs to know about it.
package struct QueuePublication: Sendable {
    package var message: BrokeredMessage
    /// Payload bytes (for `x-max-length-bytes`).
    package var bytes: Int
    /// The publisher's priority (0 when it set none).
    package var priority: UInt8
    /// The message's own time to live (AMQP `expiration`), nanoseconds.
    package var timeToLive: UInt64?
    /// Delivery mode 2: stored when the queue is durable.
    package var persistent: Bool
    /// Where it was published, for dead-lettering and `basic.deliver`.
    package var exchange: String
    /// The routing key, then `CC` and `BCC`.
    package var routingKeys: [String]

    package init(
        message: BrokeredMessage, bytes: Int, priority: UInt8 = 0, timeToLive: UInt64? = nil,
        persistent: Bool = false, exchange: String, routingKeys: [String]
    ) {
        self.message = message
        self.bytes = bytes
        self.priority = priority
        self.timeToLive = timeToLive
        self.persistent = persistent
        self.exchange = exchange
        self.routingKeys = routingKeys
    }
}
