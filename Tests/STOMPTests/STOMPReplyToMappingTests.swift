import BusCore
import NIOCore
import STOMPWire
import Testing

@testable import STOMPFrontend

/// `reply-to` ⇄ the bus `replyTo` (docs/protocols/stomp.md, "Request/reply across protocols"): a
/// destination with a bus-topic form is that topic; a MESSAGE names a bus reply topic as the `/topic/`
/// destination a SEND publishes to; a STOMP publisher's own `reply-to` comes back as it was written.
@Suite struct STOMPReplyToMappingTests {
    private func send(replyTo: String) throws -> MessageHeaders {
        let frame = STOMPFrame(
            .send, headers: STOMPHeaders([("destination", "/queue/svc"), ("reply-to", replyTo)]), body: "x")
        return try STOMPMessageMapping.headers(frame, replyTo: replyTo, now: 0, limits: .default)
    }

    private func messageHeaders(_ headers: MessageHeaders) -> String {
        var out = ByteBuffer()
        STOMPMessageMapping.writeHeaders(headers, escaping: .v1_2, to: &out)
        return String(buffer: out)
    }

    @Test func topicDestinationsAreTheirTopics() {
        #expect(STOMPReplyToMapping.topicName(forReplyTo: "/topic/replies.abc", limits: .default) == "replies/abc")
        #expect(
            STOMPReplyToMapping.topicName(forReplyTo: "/exchange/amq.topic/replies.abc", limits: .default)
                == "replies/abc")
        #expect(STOMPReplyToMapping.topicName(forReplyTo: "/topic/a.b/c", limits: .default) == "a/b%2Fc")
    }

    @Test func queueDestinationsHaveNoTopic() {
        for replyTo in [
            "/queue/replies", "/amq/queue/replies", "/reply-queue/amq.gen-x1", "/temp-queue/answers",
            "/exchange/jobs/replies", "replies", "",
        ] {
            #expect(STOMPReplyToMapping.topicName(forReplyTo: replyTo, limits: .default) == nil, "\(replyTo)")
        }
    }

    @Test func aSendCarriesTheTopicAndItsOwnReplyTo() throws {
        let topic = try send(replyTo: "/topic/replies.abc")
        #expect(topic.replyTo == "replies/abc")
        #expect(messageHeaders(topic) == "reply-to:/topic/replies.abc\n")
        // No bus address, but a STOMP subscriber still gets it back as written (RabbitMQ's reply queues).
        let queue = try send(replyTo: "/reply-queue/amq.gen-x1")
        #expect(queue.replyTo == nil)
        #expect(messageHeaders(queue) == "reply-to:/reply-queue/amq.gen-x1\n")
        // Byte for byte, even where the topic would spell the destination differently.
        let exchange = try send(replyTo: "/exchange/amq.topic/replies.abc")
        #expect(exchange.replyTo == "replies/abc")
        #expect(messageHeaders(exchange) == "reply-to:/exchange/amq.topic/replies.abc\n")
    }

    @Test func anotherProtocolsReplyTopicIsATopicDestination() {
        #expect(messageHeaders(MessageHeaders(replyTo: "replies/abc")) == "reply-to:/topic/replies.abc\n")
        #expect(messageHeaders(MessageHeaders(replyTo: "v1.2/x")) == "reply-to:/topic/v1%2E2.x\n")
        #expect(
            messageHeaders(MessageHeaders(replyTo: "$amqp-reply-to/0abc9")) == "reply-to:/topic/$amqp-reply-to.0abc9\n")
        // The destination a STOMP responder SENDs to publishes on the reply topic again.
        func sentBack(_ topic: String) -> String? {
            STOMPReplyToMapping.replyTo(of: MessageHeaders(replyTo: topic)).flatMap {
                STOMPReplyToMapping.topicName(forReplyTo: $0, limits: .default)
            }
        }
        for topic in ["replies/abc", "a/b%2Fc", "$amqp-reply-to/0abc9", "_INBOX/x/y", "$rpc/x"] {
            #expect(sentBack(topic) == topic)
        }
        // A `.` inside a level is escaped one way only (docs/topics.md, "AMQP"): such a reply topic is
        // not reached from a `/topic/` destination.
        #expect(sentBack("v1.2/x") == "v1%2E2/x")
    }
}
