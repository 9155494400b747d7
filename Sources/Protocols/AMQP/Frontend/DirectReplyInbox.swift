import BusCore
import BusRuntime
import NIOCore

/// The bus side of a direct reply-to consumer: the consumer's address is a bus topic, its inbox
/// (`topic(forAddress:)`), which this subscriber holds. A request's bus `replyTo` names it
/// (`AMQPReplyToMapping`), so an MQTT 5, NATS or STOMP responder answers by publishing there
/// (docs/protocols/amqp.md, "Request/reply across protocols"); and when instances are joined (`--engine`), a
/// reply published to the address on an instance that has no such consumer is published there to the
/// inbox, and the engine carries it over (docs/redis.md, "Request/reply"). A reply through the default
/// exchange on the requester's own instance still goes straight to the consumer, never through the bus.
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
        topicName(forAddress: address).flatMap { try? Topic($0, limits: limits) }
    }

    /// The name of the inbox topic of a reply address (`$amqp-reply-to/<token>`), or nil for one that is
    /// not a direct reply-to address.
    static func topicName(forAddress address: String) -> String? {
        guard address.hasPrefix(DirectReplyConsumer.addressPrefix) else { return nil }
        let token = address.dropFirst(DirectReplyConsumer.addressPrefix.count)
        guard !token.isEmpty, !token.contains("/") else { return nil }
        return topicPrefix + token
    }

    /// The reply address whose inbox is the topic `name` (the inverse of `topicName(forAddress:)`), or nil
    /// for a topic that is no inbox.
    static func address(forTopicName name: String) -> String? {
        guard name.hasPrefix(topicPrefix) else { return nil }
        let token = name.dropFirst(topicPrefix.count)
        guard !token.isEmpty, !token.contains("/") else { return nil }
        return DirectReplyConsumer.addressPrefix + token
    }

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard let connection else { return .skipped }
        connection.deliverDirectReply(
            to: target, routingKey: target.address,
            properties: AMQPMessageMapping.properties(of: message, topicPrefix: connection.broker.topicPrefix),
            body: message.payload)
        return .delivered(bytes: message.payload.readableBytes)
    }

    /// `deliverDirectReply` flushes what it writes.
    func flushDeliveries() {}
}
