package import NIOCore

/// SUBACK (§3.9) and UNSUBACK (§3.11): a packet identifier and a reason code per filter
/// (UNSUBACK in 3.1.1 carries no codes).
package struct MQTTSubAckPacket: Sendable, Hashable {
    package enum Kind: Sendable, Hashable { case subAck, unsubAck }

    package var kind: Kind
    package var packetID: UInt16
    package var reasonCodes: [MQTTReasonCode]
    package var properties: MQTTProperties

    package init(
        _ kind: Kind, packetID: UInt16, reasonCodes: [MQTTReasonCode], properties: MQTTProperties = MQTTProperties()
    ) {
        self.kind = kind
        self.packetID = packetID
        self.reasonCodes = reasonCodes
        self.properties = properties
    }

    package static func read(
        _ kind: Kind, version: MQTTProtocolVersion, flags: UInt8, from body: inout ByteBuffer, limits: MQTTLimits
    ) throws(MQTTError) -> Self {
        guard flags == 0 else { throw .malformedPacket("reserved flags of \(kind)") }
        let packetID = try body.readMQTTUInt16()
        var properties = MQTTProperties()
        if version.hasProperties {
            properties = try MQTTProperties.read(from: &body, limits: limits)
            try properties.validate(for: kind == .subAck ? .subAck : .unsubAck)
        }
        var codes: [MQTTReasonCode] = []
        if kind == .subAck || version.hasProperties {
            guard body.readableBytes <= limits.maxFiltersPerPacket else {
                throw .malformedPacket("more reason codes than filters allowed")
            }
            while body.readableBytes > 0 {
                let code = try body.readMQTTByte()
                // [MQTT-3.9.3-2] (3.1.1) return codes other than 0x00-0x02 and 0x80 are reserved.
                if !version.hasProperties && code > 2 && code != 0x80 {
                    throw .malformedPacket("reserved SUBACK return code \(code)")
                }
                codes.append(MQTTReasonCode(code))
            }
        }
        guard body.readableBytes == 0 else { throw .malformedPacket("bytes after \(kind)") }
        return MQTTSubAckPacket(kind, packetID: packetID, reasonCodes: codes, properties: properties)
    }

    package func writeBody(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        buffer.writeInteger(packetID)
        if version.hasProperties { properties.write(to: &buffer) }
        guard kind == .subAck || version.hasProperties else { return }
        for code in reasonCodes {
            // 3.1.1 SUBACK knows 0x00-0x02 and 0x80 (failure) only.
            buffer.writeInteger(version.hasProperties || !code.isFailure ? code.rawValue : 0x80)
        }
    }
}
