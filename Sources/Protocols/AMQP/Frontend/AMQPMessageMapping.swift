import AMQPWire
import BusCore
import BusRuntime
import NIOCore

/// AMQP messages ⇄ bus messages (docs/protocols/amqp.md, "Bridging"). An AMQP publisher's properties
/// travel whole as the message's native properties (an AMQP consumer gets them back byte for byte);
/// the fields other protocols understand are mapped beside them: content-type, correlation-id,
/// reply-to (as a bus topic, `AMQPReplyToMapping`), priority, expiration (as an absolute expiry) and string
/// headers (as user properties). A message from another protocol reaches an AMQP consumer with properties
/// made from those fields.
enum AMQPMessageMapping {
    static let protocolName = "amqp"
    /// The encoded properties of a message that has none: the property flags, all clear.
    static let noPropertyBytes = ByteBuffer(bytes: [0, 0])

    /// The bus headers of a publish with `properties`, at `now` (ns), in a virtual host whose `amq.topic`
    /// hangs under `topicPrefix`: `reply_to` becomes the bus topic a reply is published to.
    static func headers(
        _ properties: AMQPBasicProperties, now: UInt64, topicPrefix: String?, limits: TopicLimits
    ) -> MessageHeaders {
        guard properties.flags != 0 else { return MessageHeaders() }
        var bytes = ByteBuffer()
        properties.write(to: &bytes)
        var userProperties: [UserProperty] = []
        if let table = properties.headers {
            for field in table.fields {
                if let text = field.value.stringValue {
                    userProperties.append(UserProperty(name: field.name, value: text))
                }
            }
        }
        return MessageHeaders(
            contentType: properties.contentType, correlationID: properties.correlationID,
            replyTo: properties.replyTo.flatMap {
                AMQPReplyToMapping.topicName(forReplyTo: $0, topicPrefix: topicPrefix, limits: limits)
            }, userProperties: userProperties,
            expiresAt: timeToLive(properties).map { now &+ $0 }, priority: properties.priority,
            native: NativeProperties(protocolName: protocolName, bytes: bytes))
    }

    /// The message's own time to live: `expiration` is milliseconds as a decimal string (RabbitMQ).
    static func timeToLive(_ properties: AMQPBasicProperties) -> UInt64? {
        guard let expiration = properties.expiration, let milliseconds = UInt64(expiration) else { return nil }
        return milliseconds.multipliedReportingOverflow(by: 1_000_000).overflow ? .max : milliseconds * 1_000_000
    }

    /// Whether `expiration` is one RabbitMQ accepts (a non-negative integer); otherwise the publish fails
    /// with 406.
    static func expirationIsValid(_ properties: AMQPBasicProperties) -> Bool {
        guard let expiration = properties.expiration else { return true }
        return UInt64(expiration) != nil
    }

    /// The content a consumer receives for `message`: the publisher's own properties when it spoke AMQP,
    /// else properties from the bus headers (for a consumer in a virtual host under `topicPrefix`);
    /// `deaths` become the `x-death` header.
    static func content(_ message: BusMessage, deaths: [DeathRecord], topicPrefix: String?) -> AMQPEncodedContent {
        let headers = message.headers
        if deaths.isEmpty, let native = headers.native, native.protocolName == protocolName {
            return AMQPEncodedContent(propertyBytes: native.bytes, body: message.payload)
        }
        var properties = self.properties(of: message, topicPrefix: topicPrefix)
        if !deaths.isEmpty {
            var table = properties.headers ?? AMQPFieldTable()
            table.fields.removeAll { $0.name == "x-death" }
            table.fields.append(.init(name: "x-death", value: .array(deaths.map(deathTable))))
            if let first = deaths.last {
                table.fields.removeAll { $0.name == "x-first-death-queue" || $0.name == "x-first-death-reason" }
                table.fields.append(.init(name: "x-first-death-queue", value: .string(first.queue)))
                table.fields.append(.init(name: "x-first-death-reason", value: .string(first.reason.rawValue)))
            }
            properties.headers = table
            // Dead-lettering removes the per-message TTL (kept in x-death as original-expiration).
            properties.expiration = nil
        }
        return AMQPEncodedContent(properties: properties, body: message.payload)
    }

    /// The AMQP properties of a bus message: decoded from its native form, or made from its headers for a
    /// consumer in a virtual host under `topicPrefix`.
    static func properties(of message: BusMessage, topicPrefix: String?) -> AMQPBasicProperties {
        let headers = message.headers
        if let native = headers.native, native.protocolName == protocolName {
            var bytes = native.bytes
            if let properties = try? AMQPBasicProperties.read(from: &bytes, maxDepth: 16) { return properties }
        }
        var properties = AMQPBasicProperties()
        guard !headers.isEmpty else { return properties }
        // Other protocols allow longer strings than AMQP's short strings (255 bytes, §4.2.5.3): what does
        // not fit is left out rather than cut.
        func short(_ text: String?) -> String? {
            text.flatMap { $0.utf8.count <= AMQPLimits.maxShortStringBytes ? $0 : nil }
        }
        properties.contentType = short(headers.contentType)
        properties.correlationID = short(headers.correlationID)
        properties.replyTo = short(
            headers.replyTo.flatMap { AMQPReplyToMapping.replyTo(forTopicName: $0, topicPrefix: topicPrefix) })
        properties.priority = headers.priority
        if (headers.qos ?? 0) > 0 { properties.deliveryMode = 2 }
        let fields = headers.userProperties.filter { $0.name.utf8.count <= AMQPLimits.maxShortStringBytes }
        if !fields.isEmpty {
            properties.headers = AMQPFieldTable(fields.map { .init(name: $0.name, value: .string($0.value)) })
        }
        return properties
    }

    private static func deathTable(_ death: DeathRecord) -> AMQPFieldValue {
        var fields: [AMQPFieldTable.Field] = [
            .init(name: "count", value: .int64(death.count)),
            .init(name: "reason", value: .string(death.reason.rawValue)),
            .init(name: "queue", value: .string(death.queue)),
            .init(name: "time", value: .timestamp(death.time / 1_000_000_000)),
            .init(name: "exchange", value: .string(death.exchange)),
            .init(name: "routing-keys", value: .array(death.routingKeys.map { .string($0) })),
        ]
        if let expiration = death.originalExpiration {
            fields.append(.init(name: "original-expiration", value: .string(expiration)))
        }
        return .table(AMQPFieldTable(fields))
    }

    /// A field table as the broker's neutral header values (headers exchanges, argument equivalence).
    static func headerValues(_ table: AMQPFieldTable?) -> [String: HeaderValue] {
        guard let table, !table.isEmpty else { return [:] }
        var values: [String: HeaderValue] = [:]
        for field in table.fields { values[field.name] = headerValue(field.value) }
        return values
    }

    static func headerValue(_ value: AMQPFieldValue) -> HeaderValue {
        switch value {
        case .boolean(let flag): .bool(flag)
        case .int8(let number): .integer(Int64(number))
        case .uint8(let number): .integer(Int64(number))
        case .int16(let number): .integer(Int64(number))
        case .uint16(let number): .integer(Int64(number))
        case .int32(let number): .integer(Int64(number))
        case .uint32(let number): .integer(Int64(number))
        case .int64(let number): .integer(number)
        case .float(let number): .double(Double(number))
        case .double(let number): .double(number)
        case .longString(let bytes): .string(String(decoding: bytes.readableBytesView, as: UTF8.self))
        case .bytes(let bytes): .bytes(Array(bytes.readableBytesView))
        case .void: .void
        case .decimal(let scale, let value): .other("decimal:\(scale):\(value)")
        case .timestamp(let seconds): .other("timestamp:\(seconds)")
        case .array(let values): .other("array:\(values.map { "\(headerValue($0))" })")
        case .table(let table): .other("table:\(table.fields.map { "\($0.name)=\(headerValue($0.value))" })")
        }
    }
}
