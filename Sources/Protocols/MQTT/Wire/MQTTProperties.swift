package import NIOCore

/// The MQTT 5.0 properties of a packet (§2.2.2). Absent properties are nil; they are written in
/// identifier order. Which packet may carry which property is checked by `validate(for:)`.
package struct MQTTProperties: Sendable, Hashable {
    package var payloadFormatIndicator: UInt8?
    package var messageExpiryInterval: UInt32?
    package var contentType: String?
    package var responseTopic: String?
    package var correlationData: ByteBuffer?
    /// Subscription identifiers (a SUBSCRIBE carries at most one, a server PUBLISH one per match).
    package var subscriptionIdentifiers: [Int] = []
    package var sessionExpiryInterval: UInt32?
    package var assignedClientIdentifier: String?
    package var serverKeepAlive: UInt16?
    package var authenticationMethod: String?
    package var authenticationData: ByteBuffer?
    package var requestProblemInformation: UInt8?
    package var willDelayInterval: UInt32?
    package var requestResponseInformation: UInt8?
    package var responseInformation: String?
    package var serverReference: String?
    package var reasonString: String?
    package var receiveMaximum: UInt16?
    package var topicAliasMaximum: UInt16?
    package var topicAlias: UInt16?
    package var maximumQoS: UInt8?
    package var retainAvailable: UInt8?
    package var userProperties: [MQTTUserProperty] = []
    package var maximumPacketSize: UInt32?
    package var wildcardSubscriptionAvailable: UInt8?
    package var subscriptionIdentifierAvailable: UInt8?
    package var sharedSubscriptionAvailable: UInt8?

    package init() {}

    /// Property identifiers (§2.2.2.2).
    package enum Identifier: UInt8, CaseIterable, Sendable {
        case payloadFormatIndicator = 0x01
        case messageExpiryInterval = 0x02
        case contentType = 0x03
        case responseTopic = 0x08
        case correlationData = 0x09
        case subscriptionIdentifier = 0x0B
        case sessionExpiryInterval = 0x11
        case assignedClientIdentifier = 0x12
        case serverKeepAlive = 0x13
        case authenticationMethod = 0x15
        case authenticationData = 0x16
        case requestProblemInformation = 0x17
        case willDelayInterval = 0x18
        case requestResponseInformation = 0x19
        case responseInformation = 0x1A
        case serverReference = 0x1C
        case reasonString = 0x1F
        case receiveMaximum = 0x21
        case topicAliasMaximum = 0x22
        case topicAlias = 0x23
        case maximumQoS = 0x24
        case retainAvailable = 0x25
        case userProperty = 0x26
        case maximumPacketSize = 0x27
        case wildcardSubscriptionAvailable = 0x28
        case subscriptionIdentifierAvailable = 0x29
        case sharedSubscriptionAvailable = 0x2A
    }

    package var isEmpty: Bool { self == MQTTProperties() }
}

/// A name/value pair (§2.2.2.2, identifier 0x26).
package struct MQTTUserProperty: Sendable, Hashable {
    package var name: String
    package var value: String
    package init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
