import BusCore
import BusRuntime

/// AMQP's `reply_to` ⇄ the bus header `replyTo`, which always names a bus topic any protocol can publish
/// its reply to (docs/protocols/amqp.md, "Request/reply across protocols"; docs/topics.md, "Reply
/// addresses"):
///
/// | `reply_to` | bus `replyTo` |
/// |---|---|
/// | a direct reply-to address `amq.rabbitmq.reply-to.<token>` | its consumer's inbox `$amqp-reply-to/<token>` |
/// | anything else, read as an `amq.topic` routing key `replies.abc` | `replies/abc` (below the virtual host's prefix) |
///
/// A queue name in `reply_to` (`amq.gen-…`, the default exchange) has no bus address of its own: it is
/// read as a routing key like any other, so a reply from another protocol reaches the queue only when it
/// is bound to `amq.topic` with that key. An AMQP consumer of an AMQP publisher never sees this mapping:
/// it gets the publisher's own property bytes back.
enum AMQPReplyToMapping {
    /// The bus reply topic of a publish's `reply_to` in a virtual host whose `amq.topic` hangs under
    /// `topicPrefix`; nil when it spells no topic within `limits` (the empty string, too many words).
    static func topicName(forReplyTo replyTo: String, topicPrefix: String?, limits: TopicLimits) -> String? {
        let name =
            DirectReplyInbox.topicName(forAddress: replyTo)
            ?? QueueBroker.busTopicName(forRoutingKey: replyTo, topicPrefix: topicPrefix)
        guard let name, (try? Topic(name, limits: limits)) != nil else { return nil }
        return name
    }

    /// The `reply_to` an AMQP consumer in a virtual host under `topicPrefix` is given for the bus reply
    /// topic `topic` (the inverse of `topicName(forReplyTo:topicPrefix:limits:)`): the direct reply-to
    /// address of an inbox, else the routing key a reply is published to `amq.topic` with; nil for a
    /// topic outside the virtual host's prefix, which no publish of its clients can reach.
    static func replyTo(forTopicName topic: String, topicPrefix: String?) -> String? {
        DirectReplyInbox.address(forTopicName: topic)
            ?? QueueBroker.routingKey(forTopic: topic, topicPrefix: topicPrefix)
    }
}
