/// Everything the MQTT layers refuse, and every reason the server ends or refuses a connection, each mapped
/// to a reason code by `MQTTReasonCode.forError` (the one map, STYLE.md habit 12). The frontend's own
/// reasons (limits, shutdown, credentials) are cases here too, so it never picks a code itself.
package enum MQTTError: Error, Sendable, Hashable {
    /// A server-wide connection limit, as the frontend's admission check names it.
    package enum ConnectionLimit: Sendable, Hashable {
        /// New connections per second (0x9F).
        case rate
        /// Connections from one address (0x97).
        case perAddress
        /// Connections in total (0x89).
        case total
    }

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
    /// A will topic that is not a valid topic name ([MQTT-3.1.3-11]; CONNACK 0x90).
    case willTopicInvalid
    /// A topic alias outside the negotiated range (0x94).
    case topicAliasInvalid(UInt16)
    /// More QoS 1/2 publications at once than our Receive Maximum (0x93).
    case receiveMaximumExceeded
    /// A packet that is well formed but uses something we do not implement (0x83 / 0x9E / …).
    case unsupported(MQTTReasonCode, String)
    /// No packet within one and a half times the keep-alive ([MQTT-3.1.2-24]; 0x8D).
    case keepAliveTimeout
    /// The token the client connected with has expired (0x87).
    case credentialsExpired
    /// The user name and password, or the token, were refused (CONNACK 0x86; 3.1.1: 4).
    case badUserNameOrPassword(String)
    /// Something the client's identity may not do, e.g. a will it could not publish (0x87; 3.1.1: 5).
    case notAuthorized(String)
    /// A connection limit refused the connection before its CONNECT arrived.
    case connectionLimit(ConnectionLimit, String)
    /// The session limit (`MQTTServerSettings.maxSessions`) refused a new client identifier (0x97).
    case sessionLimit
    /// Another connection took the session over ([MQTT-3.1.4-3]; 0x8E).
    case sessionTakenOver
    /// The administrator closed the connection (0x98).
    case administrativeAction
    /// The server is shutting down: 0x8B, or 0x9C naming another server to use (§4.11).
    case serverShuttingDown(serverReference: String?)
    /// The client did not read its messages fast enough (0x97).
    case slowConsumer
    /// A message the client published could not be stored (0x80).
    case storeFailed(String)
    /// The session could not be had now: another instance sharing the database did not let go of it in
    /// time, or the database could not be read (0x88; 3.1.1: return code 3).
    case serverUnavailable(String)

    /// Human-readable text for reason strings and logs.
    package var message: String {
        switch self {
        case .malformedPacket(let text): "malformed packet: \(text)"
        case .protocolError(let text): "protocol error: \(text)"
        case .packetTooLarge(let size): "packet of \(size) bytes exceeds the maximum packet size"
        case .unsupportedProtocolVersion(let level): "unsupported protocol level \(level)"
        case .topicNameInvalid(let text): "invalid topic name: \(text)"
        case .willTopicInvalid: "invalid will topic"
        case .topicAliasInvalid(let alias): "topic alias \(alias) is not valid"
        case .receiveMaximumExceeded: "receive maximum exceeded"
        case .unsupported(_, let text): text
        case .keepAliveTimeout: "keep-alive timeout"
        case .credentialsExpired: "token expired"
        case .badUserNameOrPassword(let text): text
        case .notAuthorized(let text): text
        case .connectionLimit(_, let text): text
        case .sessionLimit: "session limit reached"
        case .sessionTakenOver: "another connection uses this client identifier"
        case .administrativeAction: "closed by the administrator"
        case .serverShuttingDown: "server shutting down"
        case .slowConsumer: "slow consumer"
        case .storeFailed(let text): "the message could not be stored: \(text)"
        case .serverUnavailable(let text): text
        }
    }
}
