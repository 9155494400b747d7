package import NIOCore

/// PUBLISH (§3.3). The payload is a slice of the received bytes, never copied.
package struct MQTTPublishPacket: Sendable, Hashable {
    /// Empty when a 5.0 client sends only a topic alias.
    package var topic: String
    package var payload: ByteBuffer
    package var qos: MQTTQoS
    package var retain: Bool
    package var duplicate: Bool
    /// Present exactly when QoS > 0.
    package var packetID: UInt16?
    package var properties: MQTTProperties

    package init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false, duplicate: Bool = false,
        packetID: UInt16? = nil, properties: MQTTProperties = MQTTProperties()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.duplicate = duplicate
        self.packetID = packetID
        self.properties = properties
    }

    package static func read(
        version: MQTTProtocolVersion, flags: UInt8, from body: inout ByteBuffer, limits: MQTTLimits
    )
        throws(MQTTError) -> Self
    {
        // [MQTT-3.3.1-4] QoS 3 is malformed.
        guard let qos = MQTTQoS(rawValue: (flags >> 1) & 0x03) else { throw .malformedPacket("PUBLISH with QoS 3") }
        let duplicate = flags & 0x08 != 0
        // [MQTT-3.3.1-2] DUP is 0 for QoS 0.
        if qos == .atMostOnce && duplicate { throw .malformedPacket("DUP set on a QoS 0 PUBLISH") }
        let topic = try body.readMQTTString()
        var packetID: UInt16?
        if qos != .atMostOnce {
            let id = try body.readMQTTUInt16()
            // [MQTT-2.2.1-3] a packet identifier is non-zero.
            guard id != 0 else { throw .malformedPacket("packet identifier 0") }
            packetID = id
        }
        var properties = MQTTProperties()
        if version.hasProperties {
            properties = try MQTTProperties.read(from: &body, limits: limits)
            try properties.validate(for: .publish)
        }
        let payload = body.readSlice(length: body.readableBytes) ?? ByteBuffer()
        return MQTTPublishPacket(
            topic: topic, payload: payload, qos: qos, retain: flags & 0x01 != 0, duplicate: duplicate,
            packetID: packetID, properties: properties)
    }

    /// Size of a QoS 0 PUBLISH without properties (see `writeAtMostOnce`).
    @inline(__always)
    package static func atMostOnceSize(topicBytes: Int, payloadBytes: Int, version: MQTTProtocolVersion) -> Int {
        let remaining = 2 + topicBytes + (version.hasProperties ? 1 : 0) + payloadBytes
        return 1 + ByteBuffer.mqttVariableByteIntegerLength(remaining) + remaining
    }

    /// Writes a QoS 0 PUBLISH without properties — every 3.1.1 one, and a 5.0 one whose message carries
    /// none — straight into `buffer`: the delivery path's common case, so it builds no packet value and
    /// no buffer of its own. The same bytes as `MQTTPacket.publish(…).write(version:to:)` (a test checks).
    /// `topic` is at most 65,535 bytes (a `Topic`'s limit).
    package static func writeAtMostOnce(
        topic: String, payload: ByteBuffer, retain: Bool, version: MQTTProtocolVersion, to buffer: inout ByteBuffer
    ) {
        var topic = topic
        let topicBytes = topic.utf8.count
        let remaining = 2 + topicBytes + (version.hasProperties ? 1 : 0) + payload.readableBytes
        // One capacity check and plain copies: this runs once per message per subscriber.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 5 + remaining) { out in
            out[0] = 0x30 | (retain ? 0x01 : 0)
            var at = 1
            var rest = remaining
            repeat {
                let byte = UInt8(truncatingIfNeeded: rest & 0x7F)
                rest >>= 7
                out[at] = rest > 0 ? byte | 0x80 : byte
                at += 1
            } while rest > 0
            out[at] = UInt8(truncatingIfNeeded: topicBytes >> 8)
            out[at + 1] = UInt8(truncatingIfNeeded: topicBytes)
            at += 2
            topic.withUTF8 { utf8 in
                if let base = utf8.baseAddress { (out.baseAddress! + at).copyMemory(from: base, byteCount: utf8.count) }
            }
            at += topicBytes
            if version.hasProperties {
                out[at] = 0  // property length 0
                at += 1
            }
            payload.withUnsafeReadableBytes { bytes in
                if let base = bytes.baseAddress {
                    (out.baseAddress! + at).copyMemory(from: base, byteCount: bytes.count)
                }
            }
            return at + payload.readableBytes
        }
    }

    package var flags: UInt8 {
        (duplicate ? 0x08 : 0) | (qos.rawValue << 1) | (retain ? 0x01 : 0)
    }

    package func writeBody(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        buffer.writeMQTTString(topic)
        if qos != .atMostOnce { buffer.writeInteger(packetID ?? 0) }
        if version.hasProperties { properties.write(to: &buffer) }
        buffer.writeImmutableBuffer(payload)
    }
}
