import NIOCore

/// A consumer of RabbitMQ's direct reply-to pseudo-queue (`amq.rabbitmq.reply-to`): replies published to
/// its address (`amq.rabbitmq.reply-to.<token>`, through the default exchange) go straight to this
/// channel's consumer, with no queue in between.
struct DirectReplyConsumer: @unchecked Sendable {
    /// The pseudo-queue a requester consumes from (no-ack only).
    static let queue = "amq.rabbitmq.reply-to"
    /// The prefix of the addresses replies are published to.
    static let addressPrefix = queue + "."

    // Strong: a replier on another loop may still hold this after the connection ended.
    let connection: AMQPConnectionHandler
    let channel: UInt16
    let consumerTag: String
    let address: String
}
