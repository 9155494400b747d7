package import NIOCore

/// CONNACK (§3.2).
package struct MQTTConnAckPacket: Sendable, Hashable {
    package var sessionPresent: Bool
    /// The 5.0 reason code; 3.1.1 writes its `v3ConnectReturnCode`.
    package var reasonCode: MQTTReasonCode
    package var properties: MQTTProperties

    package init(sessionPresent: Bool, reasonCode: MQTTReasonCode, properties: MQTTProperties = MQTTProperties()) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }

    package static func read(
        version: MQTTProtocolVersion, flags: UInt8, from body: inout ByteBuffer, limits: MQTTLimits
    )
        throws(MQTTError) -> Self
    {
        guard flags == 0 else { throw .malformedPacket("CONNACK flags must be 0") }
        let acknowledge = try body.readMQTTByte()
        guard acknowledge & 0xFE == 0 else { throw .malformedPacket("reserved CONNACK flags set") }
        var code = MQTTReasonCode(try body.readMQTTByte())
        var properties = MQTTProperties()
        if version.hasProperties {
            properties = try MQTTProperties.read(from: &body, limits: limits)
            try properties.validate(for: .connAck)
        } else {
            code = Self.reasonCode(v3ReturnCode: code.rawValue)
        }
        guard body.readableBytes == 0 else { throw .malformedPacket("bytes after CONNACK") }
        return MQTTConnAckPacket(sessionPresent: acknowledge & 1 != 0, reasonCode: code, properties: properties)
    }

    static func reasonCode(v3ReturnCode: UInt8) -> MQTTReasonCode {
        switch v3ReturnCode {
        case 0: .success
        case 1: .unsupportedProtocolVersion
        case 2: .clientIdentifierNotValid
        case 3: .serverUnavailable
        case 4: .badUserNameOrPassword
        default: .notAuthorized
        }
    }

    package func writeBody(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(sessionPresent ? 1 : 0))
        if version.hasProperties {
            buffer.writeInteger(reasonCode.rawValue)
            properties.write(to: &buffer)
        } else {
            buffer.writeInteger(reasonCode.v3ConnectReturnCode)
        }
    }
}
