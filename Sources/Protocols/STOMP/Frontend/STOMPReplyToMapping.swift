import BusCore
import BusRuntime
import NIOCore
import STOMPWire

/// STOMP's `reply-to` ⇄ the bus header `replyTo`, which always names a bus topic any protocol can publish
/// its reply to (docs/protocols/stomp.md, "Request/reply across protocols"; docs/topics.md, "Reply
/// addresses"):
///
/// | SEND `reply-to` | bus `replyTo` | MESSAGE `reply-to` for another protocol's request |
/// |---|---|---|
/// | `/topic/<key>`, `/exchange/amq.topic/<key>` | the topic the key spells (`a.b` → `a/b`) | `/topic/<key>` |
/// | `/queue/…`, `/amq/queue/…`, `/reply-queue/…` (and `/temp-queue/…`, rewritten to one), `/exchange/<x>/…` | none: queues have no bus address | — |
///
/// Whatever it names, a SEND's `reply-to` (after a `/temp-queue/` is rewritten) also travels as written in
/// the message's native properties, so a STOMP subscriber of a STOMP publisher gets it back byte for byte
/// and the RabbitMQ flows through `/reply-queue/` and `/temp-queue/` stay as they were.
enum STOMPReplyToMapping {
    /// The native protocol name of a STOMP publisher's `reply-to` (`MessageHeaders.native`).
    static let protocolName = "stomp-reply-to"

    /// The bus reply topic of a SEND's `reply-to`, or nil for a destination that has none within `limits`.
    static func topicName(forReplyTo replyTo: String, limits: TopicLimits) -> String? {
        let key: String
        switch STOMPDestination(replyTo) {
        case .topic(let topicKey)?: key = topicKey
        case .exchange(let exchange, let exchangeKey)? where exchange == QueueBroker.busExchange: key = exchangeKey
        default: return nil
        }
        guard let name = RoutingKeyMapping.topicName(forRoutingKey: key), (try? Topic(name, limits: limits)) != nil
        else { return nil }
        return name
    }

    /// The native properties that carry a SEND's `reply-to` as written.
    static func native(replyTo: String) -> NativeProperties {
        NativeProperties(protocolName: protocolName, bytes: ByteBuffer(string: replyTo))
    }

    /// The `reply-to` a MESSAGE carries: a STOMP publisher's own, else the `/topic/` destination of the bus
    /// reply topic (a SEND there publishes on it); nil when there is neither.
    static func replyTo(of headers: MessageHeaders) -> String? {
        if let native = headers.native, native.protocolName == protocolName {
            return String(buffer: native.bytes)
        }
        return headers.replyTo.map { "/topic/" + RoutingKeyMapping.routingKey(forTopic: $0) }
    }
}
