package import NIOCore

/// DISCONNECT (§3.14) and AUTH (§3.15): a reason code and properties (5.0); DISCONNECT is empty in 3.1.1.
package struct MQTTDisconnectPacket: Sendable, Hashable {
    package var reasonCode: MQTTReasonCode
    package var properties: MQTTProperties

    package init(reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }

    /// Reads DISCONNECT (`isAuth` false) or AUTH.
    package static func read(
        version: MQTTProtocolVersion, flags: UInt8, from body: inout ByteBuffer, limits: MQTTLimits, isAuth: Bool
    ) throws(MQTTError) -> Self {
        guard flags == 0 else { throw .malformedPacket("reserved flags of \(isAuth ? "AUTH" : "DISCONNECT")") }
        var packet = MQTTDisconnectPacket()
        if version.hasProperties {
            // §3.14.2.1: a remaining length of 0 means reason 0x00 and no properties.
            if body.readableBytes > 0 { packet.reasonCode = MQTTReasonCode(try body.readMQTTByte()) }
            if body.readableBytes > 0 {
                packet.properties = try MQTTProperties.read(from: &body, limits: limits)
                try packet.properties.validate(for: isAuth ? .auth : .disconnect)
            }
        } else if isAuth {
            throw .malformedPacket("AUTH does not exist in MQTT 3.1.1")
        }
        guard body.readableBytes == 0 else { throw .malformedPacket("bytes after DISCONNECT") }
        return packet
    }

    package func writeBody(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        guard version.hasProperties else { return }
        if reasonCode == .success && properties.isEmpty { return }
        buffer.writeInteger(reasonCode.rawValue)
        if !properties.isEmpty { properties.write(to: &buffer) }
    }
}
