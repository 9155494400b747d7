package import NIOCore

/// PUBACK, PUBREC, PUBREL and PUBCOMP (§3.4–§3.7): one shape, four packet types.
package struct MQTTAckPacket: Sendable, Hashable {
    package enum Kind: Sendable, Hashable {
        case pubAck, pubRec, pubRel, pubComp

        package var packetType: MQTTPacketType {
            switch self {
            case .pubAck: .pubAck
            case .pubRec: .pubRec
            case .pubRel: .pubRel
            case .pubComp: .pubComp
            }
        }
    }

    package var kind: Kind
    package var packetID: UInt16
    package var reasonCode: MQTTReasonCode
    package var properties: MQTTProperties

    package init(
        _ kind: Kind, packetID: UInt16, reasonCode: MQTTReasonCode = .success,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.kind = kind
        self.packetID = packetID
        self.reasonCode = reasonCode
        self.properties = properties
    }

    package static func read(
        _ kind: Kind, version: MQTTProtocolVersion, flags: UInt8, from body: inout ByteBuffer, limits: MQTTLimits
    ) throws(MQTTError) -> Self {
        // [MQTT-3.6.1-1] PUBREL's flags are 0010; the others' are 0 ([MQTT-2.1.3-1]).
        guard flags == (kind == .pubRel ? 0x02 : 0) else { throw .malformedPacket("reserved flags of \(kind)") }
        let packetID = try body.readMQTTUInt16()
        guard packetID != 0 else { throw .malformedPacket("packet identifier 0") }
        var code = MQTTReasonCode.success
        var properties = MQTTProperties()
        if version.hasProperties {
            // §3.4.2.1: the reason code and properties may be omitted (then 0x00, none).
            if body.readableBytes > 0 { code = MQTTReasonCode(try body.readMQTTByte()) }
            if body.readableBytes > 0 {
                properties = try MQTTProperties.read(from: &body, limits: limits)
                try properties.validate(for: .puback)
            }
        }
        guard body.readableBytes == 0 else { throw .malformedPacket("bytes after \(kind)") }
        return MQTTAckPacket(kind, packetID: packetID, reasonCode: code, properties: properties)
    }

    package var flags: UInt8 { kind == .pubRel ? 0x02 : 0 }

    package func writeBody(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        buffer.writeInteger(packetID)
        guard version.hasProperties else { return }
        // The short form when there is nothing to say (§3.4.2.1).
        if reasonCode == .success && properties.isEmpty { return }
        buffer.writeInteger(reasonCode.rawValue)
        if !properties.isEmpty { properties.write(to: &buffer) }
    }
}
