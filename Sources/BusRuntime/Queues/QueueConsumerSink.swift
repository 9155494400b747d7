package import BusCore
package import NIOCore

/// The far end of a queue consumer: an AMQP channel's consumer, a STOMP `/queue/` subscription. Lives on
/// its connection's loop; a queue on another loop hands it deliveries in batches there.
package protocol QueueConsumerSink: AnyObject, Sendable {
    /// The loop deliveries are made on.
    var eventLoop: any EventLoop { get }
    /// Whether it takes another message now — asked by the queue on the queue's loop once per delivery it
    /// would make (true: the delivery is made), so backed by something safe from there (atomics): false
    /// while its connection's outbound buffer is full or its channel-wide window is used up (a true takes
    /// a unit of that window). When it takes messages again it calls `host.resume()`.
    var acceptsDeliveries: Bool { get }
    /// One message for it (on its loop): write it, without flushing.
    func deliver(_ delivery: QueueDelivery<BrokeredMessage>, from host: QueueHost)
    /// Flush what `deliver` wrote; once per batch.
    func flushQueueDeliveries()
    /// The queue went away under it (deleted, expired): the protocol tells its client (AMQP
    /// `basic.cancel` from the server). On its loop.
    func queueCancelled(_ consumer: QueueConsumerID, host: QueueHost)
    /// Whose consumer it is, for the admin API: the connection and, where the protocol has one, the
    /// channel (AMQP) — RabbitMQ's `channel_details`.
    var owner: QueueConsumerOwner { get }
}

/// The connection (and channel) a queue consumer belongs to.
package struct QueueConsumerOwner: Sendable {
    package var protocolName: String
    package var connectionID: String
    package var channel: Int?

    package init(protocolName: String, connectionID: String, channel: Int? = nil) {
        self.protocolName = protocolName
        self.connectionID = connectionID
        self.channel = channel
    }
}
