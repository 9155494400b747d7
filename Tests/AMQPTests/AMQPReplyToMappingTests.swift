import AMQPWire
import BusCore
import NIOCore
import Testing

@testable import AMQPFrontend

/// `reply_to` ⇄ the bus `replyTo` (docs/protocols/amqp.md, "Request/reply across protocols"): the bus side
/// is always a topic another protocol can publish its reply to.
@Suite struct AMQPReplyToMappingTests {
    @Test func aRoutingKeyIsTheTopicItPublishesTo() {
        #expect(
            AMQPReplyToMapping.topicName(forReplyTo: "replies.abc", topicPrefix: nil, limits: .default) == "replies/abc"
        )
        #expect(
            AMQPReplyToMapping.topicName(forReplyTo: "replies.abc", topicPrefix: "tenant-a", limits: .default)
                == "tenant-a/replies/abc")
        // Escaped as routing keys of publishes are (docs/topics.md, "AMQP").
        #expect(AMQPReplyToMapping.topicName(forReplyTo: "a.b/c", topicPrefix: nil, limits: .default) == "a/b%2Fc")
        // A queue name is read as a routing key too: queues have no bus address.
        #expect(
            AMQPReplyToMapping.topicName(forReplyTo: "amq.gen-x1", topicPrefix: nil, limits: .default) == "amq/gen-x1")
    }

    @Test func aDirectReplyToAddressIsItsConsumersInbox() {
        #expect(
            AMQPReplyToMapping.topicName(
                forReplyTo: "amq.rabbitmq.reply-to.0abc9", topicPrefix: "tenant-a", limits: .default)
                == "$amqp-reply-to/0abc9")
        #expect(
            AMQPReplyToMapping.replyTo(forTopicName: "$amqp-reply-to/0abc9", topicPrefix: nil)
                == "amq.rabbitmq.reply-to.0abc9")
        #expect(
            AMQPReplyToMapping.replyTo(forTopicName: "$amqp-reply-to/0abc9", topicPrefix: "tenant-a")
                == "amq.rabbitmq.reply-to.0abc9")
    }

    @Test func aReplyToThatSpellsNoTopicHasNone() {
        #expect(AMQPReplyToMapping.topicName(forReplyTo: "", topicPrefix: nil, limits: .default) == nil)
        let deep = Array(repeating: "w", count: 40).joined(separator: ".")
        #expect(AMQPReplyToMapping.topicName(forReplyTo: deep, topicPrefix: nil, limits: .default) == nil)
    }

    @Test func aTopicIsTheRoutingKeyAReplyIsPublishedWith() {
        #expect(AMQPReplyToMapping.replyTo(forTopicName: "replies/abc", topicPrefix: nil) == "replies.abc")
        #expect(AMQPReplyToMapping.replyTo(forTopicName: "v1.2/x", topicPrefix: nil) == "v1%2E2.x")
        #expect(
            AMQPReplyToMapping.replyTo(forTopicName: "tenant-a/replies/abc", topicPrefix: "tenant-a") == "replies.abc")
        // Outside the virtual host's prefix no publish of its clients reaches the topic.
        #expect(AMQPReplyToMapping.replyTo(forTopicName: "replies/abc", topicPrefix: "tenant-a") == nil)
    }

    @Test func bothWaysAreInverses() {
        for key in ["replies.abc", "a.b/c", "r.+.#", "amq.rabbitmq.reply-to.0abc9", "_INBOX.x.y"] {
            for prefix in [nil, "tenant-a"] as [String?] {
                let topic = AMQPReplyToMapping.topicName(forReplyTo: key, topicPrefix: prefix, limits: .default)
                #expect(topic.flatMap { AMQPReplyToMapping.replyTo(forTopicName: $0, topicPrefix: prefix) } == key)
            }
        }
    }

    @Test func aPublishCarriesItsReplyToAsATopicAndItsOwnPropertiesUnchanged() throws {
        let properties = AMQPBasicProperties(correlationID: "c1", replyTo: "replies.abc")
        let headers = AMQPMessageMapping.headers(properties, now: 0, topicPrefix: nil, limits: .default)
        #expect(headers.replyTo == "replies/abc")
        #expect(headers.correlationID == "c1")
        // An AMQP consumer of the message gets the publisher's bytes, reply_to as it was sent.
        let message = BusMessage(topic: Topic(trusted: "svc"), payload: ByteBuffer(), headers: headers, timestamp: 0)
        let content = AMQPMessageMapping.content(message, deaths: [], topicPrefix: nil)
        var written = ByteBuffer()
        properties.write(to: &written)
        #expect(content == AMQPEncodedContent(propertyBytes: written, body: ByteBuffer()))
        #expect(AMQPMessageMapping.properties(of: message, topicPrefix: "tenant-a").replyTo == "replies.abc")
    }

    @Test func anotherProtocolsReplyTopicReachesAnAMQPConsumerAsARoutingKey() {
        let headers = MessageHeaders(correlationID: "c1", replyTo: "replies/abc")
        let message = BusMessage(topic: Topic(trusted: "svc"), payload: ByteBuffer(), headers: headers, timestamp: 0)
        let properties = AMQPMessageMapping.properties(of: message, topicPrefix: nil)
        #expect(properties.replyTo == "replies.abc")
        #expect(properties.correlationID == "c1")
        let inbox = MessageHeaders(replyTo: "$amqp-reply-to/0abc9")
        let request = BusMessage(topic: Topic(trusted: "svc"), payload: ByteBuffer(), headers: inbox, timestamp: 0)
        #expect(AMQPMessageMapping.properties(of: request, topicPrefix: nil).replyTo == "amq.rabbitmq.reply-to.0abc9")
    }
}
