import BusCore
import NIOCore
import STOMPWire

/// STOMP frames ⇄ bus messages (docs/protocols/stomp.md, "Bridging"). A SEND's `content-type`,
/// `correlation-id`, `reply-to` (as a bus topic, `STOMPReplyToMapping`), `priority`, `expiration` (a time
/// to live in ms, as RabbitMQ reads it) and `persistent` become the bus headers every protocol reads; its other headers travel as user
/// properties, which a MESSAGE writes back as headers (and MQTT 5, NATS and AMQP carry as theirs).
enum STOMPMessageMapping {
    /// Headers that say how a frame is handled, never carried as user headers.
    static let frameHeaders: Set<String> = [
        "destination", "content-length", "content-type", "receipt", "transaction", "reply-to", "correlation-id",
        "expiration", "priority", "persistent", "message-id", "subscription", "ack", "id", "redelivered",
        "durable", "auto-delete", "exclusive", "prefetch-count", "selector",
    ]

    /// The bus headers of a SEND at `now` (ns) whose `reply-to` is `replyTo` (a `/temp-queue/` already
    /// rewritten); an ERROR for a malformed `priority` or `expiration`.
    static func headers(
        _ frame: STOMPFrame, replyTo: String?, now: UInt64, limits: TopicLimits
    ) throws(STOMPError) -> MessageHeaders {
        let headers = frame.headers
        if replyTo == nil, headers.allSatisfy({ $0.name == "destination" || $0.name == "content-length" }) {
            // The common case: no fields to build.
            return MessageHeaders()
        }
        var userProperties: [UserProperty] = []
        var seen: Set<String> = []
        for header in headers where !frameHeaders.contains(header.name) && seen.insert(header.name).inserted {
            userProperties.append(UserProperty(name: header.name, value: header.value))
        }
        return MessageHeaders(
            contentType: headers["content-type"], correlationID: headers["correlation-id"],
            replyTo: replyTo.flatMap { STOMPReplyToMapping.topicName(forReplyTo: $0, limits: limits) },
            userProperties: userProperties, expiresAt: try timeToLive(frame).map { now &+ $0 },
            priority: try priority(frame), qos: persistent(frame) ? 1 : nil,
            native: replyTo.map { STOMPReplyToMapping.native(replyTo: $0) })
    }

    /// `expiration` in ms as nanoseconds.
    static func timeToLive(_ frame: STOMPFrame) throws(STOMPError) -> UInt64? {
        guard let text = frame.headers["expiration"] else { return nil }
        guard let milliseconds = UInt64(text) else {
            throw STOMPError("Invalid header", detail: "expiration must be a non-negative integer: '\(text)'\n")
        }
        return milliseconds.multipliedReportingOverflow(by: 1_000_000).overflow ? .max : milliseconds * 1_000_000
    }

    static func priority(_ frame: STOMPFrame) throws(STOMPError) -> UInt8? {
        guard let text = frame.headers["priority"] else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw STOMPError("Invalid header", detail: "priority must be a non-negative integer: '\(text)'\n")
        }
        return UInt8(clamping: value)
    }

    static func persistent(_ frame: STOMPFrame) -> Bool {
        frame.headers["persistent"] == "true"
    }

    /// The headers of a MESSAGE after its `subscription`, `destination`, `message-id` and `ack` lines:
    /// the bus headers other protocols set, then the user properties; `content-length` and the EOL that
    /// ends the headers come after.
    static func writeHeaders(_ headers: MessageHeaders, escaping: STOMPEscaping, to out: inout ByteBuffer) {
        if let contentType = headers.contentType {
            STOMPFrameEncoder.writeHeader("content-type", contentType, escaping: escaping, to: &out)
        }
        if let correlationID = headers.correlationID {
            STOMPFrameEncoder.writeHeader("correlation-id", correlationID, escaping: escaping, to: &out)
        }
        if let replyTo = STOMPReplyToMapping.replyTo(of: headers) {
            STOMPFrameEncoder.writeHeader("reply-to", replyTo, escaping: escaping, to: &out)
        }
        if let priority = headers.priority {
            out.writeStaticString("priority:")
            STOMPFrameEncoder.writeDecimal(Int(priority), to: &out)
            out.writeInteger(UInt8(ascii: "\n"))
        }
        if (headers.qos ?? 0) > 0 { out.writeStaticString("persistent:true\n") }
        for property in headers.userProperties where !frameHeaders.contains(property.name) {
            STOMPFrameEncoder.writeHeader(property.name, property.value, escaping: escaping, to: &out)
        }
    }
}
