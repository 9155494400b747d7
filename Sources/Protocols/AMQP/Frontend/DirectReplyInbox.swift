import BusCore
import BusRuntime
import NIOCore

/// The bus side of a direct reply-to consumer, made only when instances are joined (`--engine`): a reply
/// published to the consumer's address on another instance finds no consumer there, so that instance
/// publishes it on the bus to the address's inbox topic (`topic(forAddress:)`), which this subscriber
/// holds here, and the engine carries it over (docs/redis.md, "Request/reply"). A reply on the requester's
/// own instance still goes straight to the consumer, never through the bus.
final class DirectReplyInbox: BusSubscriber, @unchecked Sendable {
    /// The first level of inbox topics: `$`, so no wildcard subscriber of another protocol sees replies
    /// ([MQTT-4.7.2-1]).
    static let topicPrefix = "$amqp-reply-to/"

    let eventLoop: any EventLoop
    let metricsSlot: ProtocolMetricsSlot
    var deliveryMark: UInt64 = 0
    // Weak: the connection owns the subscription and ends it when the consumer or the channel goes.
    private weak var connection: AMQPConnectionHandler?
    private let target: DirectReplyConsumer

    init(connection: AMQPConnectionHandler, target: DirectReplyConsumer, metricsSlot: ProtocolMetricsSlot) {
        self.eventLoop = connection.eventLoop
        self.connection = connection
        self.target = target
        self.metricsSlot = metricsSlot
    }

    /// The inbox topic of a reply address (`amq.rabbitmq.reply-to.<token>`), or nil for one that is not.
    static func topic(forAddress address: String, limits: TopicLimits) -> Topic? {
        guard address.hasPrefix(DirectReplyConsumer.addressPrefix) else { return nil }
        let token = address.dropFirst(DirectReplyConsumer.addressPrefix.count)
        guard !token.isEmpty, !token.contains("/") else { return nil }
        return try? Topic(topicPrefix + token, limits: limits)
    }

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard let connection else { return .skipped }
        connection.deliverDirectReply(
            to: target, routingKey: target.address, properties: AMQPMessageMapping.properties(of: message),
            body: message.payload)
        return .delivered(bytes: message.payload.readableBytes)
    }

    /// `deliverDirectReply` flushes what it writes.
    func flushDeliveries() {}
}
