import BusCore
import MQTTWire
import NIOCore

/// PUBLISH packets ⇄ bus messages: MQTT 5 properties map onto the bus's headers (docs/protocols/mqtt.md).
enum MQTTMessageMapping {
    /// A received PUBLISH (topic already resolved and validated) as a bus message.
    /// The bus message of an inbound PUBLISH; `durableSequence` when it is stored in the session message log.
    static func busMessage(
        _ packet: MQTTPublishPacket, topic: Topic, publisherID: String, now: UInt64, durableSequence: UInt64? = nil
    ) -> BusMessage {
        let properties = packet.properties
        // QoS 0 is the headers' default (nil reads as 0 everywhere): a plain QoS 0 message then shares
        // the empty headers instead of allocating its own.
        let qos = packet.qos == .atMostOnce ? nil : packet.qos.rawValue
        if properties.isUnset {
            return BusMessage(
                topic: topic, payload: packet.payload,
                headers: MessageHeaders(qos: qos, retain: packet.retain, durableSequence: durableSequence),
                publisherID: publisherID, timestamp: now)
        }
        var headers = MessageHeaders(
            contentType: properties.contentType, replyTo: properties.responseTopic,
            userProperties: properties.userProperties.map { UserProperty(name: $0.name, value: $0.value) },
            qos: qos, retain: packet.retain,
            payloadIsUTF8: properties.payloadFormatIndicator.map { $0 == 1 }, durableSequence: durableSequence)
        if let data = properties.correlationData { headers.correlationID = correlationID(data) }
        if let seconds = properties.messageExpiryInterval {
            headers.expiresAt = now + UInt64(seconds) * 1_000_000_000
        }
        return BusMessage(
            topic: topic, payload: packet.payload, headers: headers, publisherID: publisherID, timestamp: now)
    }

    /// The PUBLISH a subscriber receives (without packet identifier; the session assigns one).
    static func publishPacket(_ message: BusMessage, qos: MQTTQoS, retain: Bool, subscriptionIdentifiers: [Int])
        -> MQTTPublishPacket
    {
        let headers = message.headers
        var properties = MQTTProperties()
        // Headers from other protocols may be longer than MQTT's two-byte lengths allow; those are left
        // out rather than sent malformed.
        func fits(_ text: String?) -> String? { text.flatMap { $0.utf8.count <= Int(UInt16.max) ? $0 : nil } }
        if let utf8 = headers.payloadIsUTF8 { properties.payloadFormatIndicator = utf8 ? 1 : 0 }
        properties.contentType = fits(headers.contentType)
        properties.responseTopic = fits(headers.replyTo)
        if let correlation = headers.correlationID {
            let data = correlationData(correlation)
            if data.readableBytes <= Int(UInt16.max) { properties.correlationData = data }
        }
        if !headers.userProperties.isEmpty {
            properties.userProperties = headers.userProperties.compactMap { pair in
                guard let name = fits(pair.name), let value = fits(pair.value) else { return nil }
                return MQTTUserProperty(name: name, value: value)
            }
        }
        properties.subscriptionIdentifiers = subscriptionIdentifiers
        return MQTTPublishPacket(
            topic: message.topic.name, payload: message.payload, qos: qos, retain: retain, properties: properties)
    }

    /// Prefix of a correlation id that carries binary Correlation Data as base64. A NUL cannot start
    /// a correlation id that came as text, so the mapping is lossless both ways.
    static let binaryCorrelationPrefix = "\u{0}base64:"

    /// MQTT Correlation Data → the bus's correlation id: as text when it is UTF-8 without NUL,
    /// otherwise base64 behind `binaryCorrelationPrefix`.
    static func correlationID(_ data: ByteBuffer) -> String {
        if let text = try? ByteBuffer.validatedString(data) { return text }
        return binaryCorrelationPrefix + Base64.encode(data.readableBytesView)
    }

    static func correlationData(_ id: String) -> ByteBuffer {
        if id.hasPrefix(binaryCorrelationPrefix),
            let bytes = Base64.decode(String(id.dropFirst(binaryCorrelationPrefix.count)))
        {
            return ByteBuffer(bytes: bytes)
        }
        return ByteBuffer(string: id)
    }

    /// [MQTT-3.3.2-6] the Message Expiry Interval sent is the time left; nil when `expiresAt` passed.
    static func remainingExpiry(_ expiresAt: UInt64?, now: UInt64) -> UInt32?? {
        guard let expiresAt else { return .some(nil) }
        guard expiresAt > now else { return nil }
        let seconds = (expiresAt - now + 999_999_999) / 1_000_000_000
        return .some(UInt32(min(seconds, UInt64(UInt32.max))))
    }
}
