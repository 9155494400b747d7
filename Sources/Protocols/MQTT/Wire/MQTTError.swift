/// Everything the MQTT layers refuse, each mapped to a reason code by `MQTTReasonCode.forError`.
package enum MQTTError: Error, Sendable, Hashable {
    /// The bytes do not form a valid packet (reason 0x81; 3.1.1: close).
    case malformedPacket(String)
    /// Valid bytes that break the protocol's rules (reason 0x82; 3.1.1: close).
    case protocolError(String)
    /// A packet larger than our Maximum Packet Size (reason 0x95).
    case packetTooLarge(Int)
    /// A CONNECT with a protocol name or level we do not speak (CONNACK 0x01 / 0x84).
    case unsupportedProtocolVersion(UInt8)
    /// A topic name that is not valid for publishing (0x90).
    case topicNameInvalid(String)
    /// A topic alias outside the negotiated range (0x94).
    case topicAliasInvalid(UInt16)
    /// More QoS 1/2 publications at once than our Receive Maximum (0x93).
    case receiveMaximumExceeded
    /// A packet that is well formed but uses something we do not implement (0x83 / 0x9E / …).
    case unsupported(MQTTReasonCode, String)

    /// Human-readable text for reason strings and logs.
    package var message: String {
        switch self {
        case .malformedPacket(let text): "malformed packet: \(text)"
        case .protocolError(let text): "protocol error: \(text)"
        case .packetTooLarge(let size): "packet of \(size) bytes exceeds the maximum packet size"
        case .unsupportedProtocolVersion(let level): "unsupported protocol level \(level)"
        case .topicNameInvalid(let text): "invalid topic name: \(text)"
        case .topicAliasInvalid(let alias): "topic alias \(alias) is not valid"
        case .receiveMaximumExceeded: "receive maximum exceeded"
        case .unsupported(_, let text): text
        }
    }
}
