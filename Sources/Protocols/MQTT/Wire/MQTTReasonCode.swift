/// An MQTT 5.0 reason code (§2.4); 3.1.1 CONNACK return codes are derived from them.
package struct MQTTReasonCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    package var rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    package init(_ rawValue: UInt8) { self.rawValue = rawValue }

    package static let success = MQTTReasonCode(0x00)
    package static let grantedQoS1 = MQTTReasonCode(0x01)
    package static let grantedQoS2 = MQTTReasonCode(0x02)
    package static let disconnectWithWill = MQTTReasonCode(0x04)
    package static let noMatchingSubscribers = MQTTReasonCode(0x10)
    package static let noSubscriptionExisted = MQTTReasonCode(0x11)
    package static let unspecifiedError = MQTTReasonCode(0x80)
    package static let malformedPacket = MQTTReasonCode(0x81)
    package static let protocolError = MQTTReasonCode(0x82)
    package static let implementationSpecificError = MQTTReasonCode(0x83)
    package static let unsupportedProtocolVersion = MQTTReasonCode(0x84)
    package static let clientIdentifierNotValid = MQTTReasonCode(0x85)
    package static let badUserNameOrPassword = MQTTReasonCode(0x86)
    package static let notAuthorized = MQTTReasonCode(0x87)
    package static let serverUnavailable = MQTTReasonCode(0x88)
    package static let serverBusy = MQTTReasonCode(0x89)
    package static let serverShuttingDown = MQTTReasonCode(0x8B)
    package static let badAuthenticationMethod = MQTTReasonCode(0x8C)
    package static let keepAliveTimeout = MQTTReasonCode(0x8D)
    package static let sessionTakenOver = MQTTReasonCode(0x8E)
    package static let topicFilterInvalid = MQTTReasonCode(0x8F)
    package static let topicNameInvalid = MQTTReasonCode(0x90)
    package static let packetIdentifierInUse = MQTTReasonCode(0x91)
    package static let packetIdentifierNotFound = MQTTReasonCode(0x92)
    package static let receiveMaximumExceeded = MQTTReasonCode(0x93)
    package static let topicAliasInvalid = MQTTReasonCode(0x94)
    package static let packetTooLarge = MQTTReasonCode(0x95)
    package static let quotaExceeded = MQTTReasonCode(0x97)
    package static let administrativeAction = MQTTReasonCode(0x98)
    package static let payloadFormatInvalid = MQTTReasonCode(0x99)
    package static let useAnotherServer = MQTTReasonCode(0x9C)
    package static let retainNotSupported = MQTTReasonCode(0x9A)
    package static let qosNotSupported = MQTTReasonCode(0x9B)
    package static let sharedSubscriptionsNotSupported = MQTTReasonCode(0x9E)
    package static let subscriptionIdentifiersNotSupported = MQTTReasonCode(0xA1)
    package static let wildcardSubscriptionsNotSupported = MQTTReasonCode(0xA2)
    package static let connectionRateExceeded = MQTTReasonCode(0x9F)

    /// Whether the code reports a failure (MQTT 5.0 §2.4: 0x80 and above).
    package var isFailure: Bool { rawValue >= 0x80 }

    package var description: String { "0x" + String(rawValue, radix: 16, uppercase: true) }

    /// The one place that maps refusals and server-side close reasons to reason codes (STYLE.md habit 12).
    package static func forError(_ error: MQTTError) -> MQTTReasonCode {
        switch error {
        case .malformedPacket: .malformedPacket
        case .protocolError: .protocolError
        case .packetTooLarge: .packetTooLarge
        case .unsupportedProtocolVersion: .unsupportedProtocolVersion
        case .topicNameInvalid: .topicNameInvalid
        case .topicAliasInvalid: .topicAliasInvalid
        case .receiveMaximumExceeded: .receiveMaximumExceeded
        case .unsupported(let code, _): code
        case .willTopicInvalid: .topicNameInvalid
        case .keepAliveTimeout: .keepAliveTimeout
        // 3.1.1 has no DISCONNECT from servers: these close without a code there.
        case .credentialsExpired, .notAuthorized: .notAuthorized
        case .badUserNameOrPassword: .badUserNameOrPassword
        // 3.1.1 CONNACK has no code for these: return code 3, Server Unavailable (`v3ConnectReturnCode`).
        case .connectionLimit(.rate, _): .connectionRateExceeded
        case .connectionLimit(.perAddress, _), .sessionLimit, .slowConsumer: .quotaExceeded
        case .connectionLimit(.total, _): .serverBusy
        case .sessionTakenOver: .sessionTakenOver
        case .administrativeAction: .administrativeAction
        // §4.11: with another server to name, 0x9C Use another server.
        case .serverShuttingDown(let reference): reference == nil ? .serverShuttingDown : .useAnotherServer
        case .storeFailed: .unspecifiedError
        case .serverUnavailable: .serverUnavailable
        }
    }

    /// The MQTT 3.1.1 CONNACK return code for a refused connection (§3.2.2.3).
    package var v3ConnectReturnCode: UInt8 {
        switch self {
        case .success: 0x00
        case .unsupportedProtocolVersion: 0x01
        case .clientIdentifierNotValid: 0x02
        case .serverUnavailable, .serverShuttingDown: 0x03
        case .badUserNameOrPassword: 0x04
        case .notAuthorized: 0x05
        default: 0x03
        }
    }
}
