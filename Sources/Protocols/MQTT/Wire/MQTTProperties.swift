package import NIOCore

/// The MQTT 5.0 properties of a packet (§2.2.2). Absent properties are nil; they are written in
/// identifier order. Which packet may carry which property is checked by `validate(for:)`.
///
/// Most packets carry no properties, and a PUBLISH a few, so the values live in a copy-on-write box that
/// is absent when there are none: the struct is one pointer, and passing packets around copies
/// 8 bytes instead of ~400 (this showed up as memmove and retain/release in delivery profiles).
package struct MQTTProperties: Sendable, Hashable {
    private final class Storage: @unchecked Sendable {  // never mutated once shared (copy on write)
        var payloadFormatIndicator: UInt8? = nil
        var messageExpiryInterval: UInt32? = nil
        var contentType: String? = nil
        var responseTopic: String? = nil
        var correlationData: ByteBuffer? = nil
        var subscriptionIdentifiers: [Int] = []
        var sessionExpiryInterval: UInt32? = nil
        var assignedClientIdentifier: String? = nil
        var serverKeepAlive: UInt16? = nil
        var authenticationMethod: String? = nil
        var authenticationData: ByteBuffer? = nil
        var requestProblemInformation: UInt8? = nil
        var willDelayInterval: UInt32? = nil
        var requestResponseInformation: UInt8? = nil
        var responseInformation: String? = nil
        var serverReference: String? = nil
        var reasonString: String? = nil
        var receiveMaximum: UInt16? = nil
        var topicAliasMaximum: UInt16? = nil
        var topicAlias: UInt16? = nil
        var maximumQoS: UInt8? = nil
        var retainAvailable: UInt8? = nil
        var userProperties: [MQTTUserProperty] = []
        var maximumPacketSize: UInt32? = nil
        var wildcardSubscriptionAvailable: UInt8? = nil
        var subscriptionIdentifierAvailable: UInt8? = nil
        var sharedSubscriptionAvailable: UInt8? = nil

        init() {}

        func copy() -> Storage {
            let copy = Storage()
            copy.payloadFormatIndicator = payloadFormatIndicator
            copy.messageExpiryInterval = messageExpiryInterval
            copy.contentType = contentType
            copy.responseTopic = responseTopic
            copy.correlationData = correlationData
            copy.subscriptionIdentifiers = subscriptionIdentifiers
            copy.sessionExpiryInterval = sessionExpiryInterval
            copy.assignedClientIdentifier = assignedClientIdentifier
            copy.serverKeepAlive = serverKeepAlive
            copy.authenticationMethod = authenticationMethod
            copy.authenticationData = authenticationData
            copy.requestProblemInformation = requestProblemInformation
            copy.willDelayInterval = willDelayInterval
            copy.requestResponseInformation = requestResponseInformation
            copy.responseInformation = responseInformation
            copy.serverReference = serverReference
            copy.reasonString = reasonString
            copy.receiveMaximum = receiveMaximum
            copy.topicAliasMaximum = topicAliasMaximum
            copy.topicAlias = topicAlias
            copy.maximumQoS = maximumQoS
            copy.retainAvailable = retainAvailable
            copy.userProperties = userProperties
            copy.maximumPacketSize = maximumPacketSize
            copy.wildcardSubscriptionAvailable = wildcardSubscriptionAvailable
            copy.subscriptionIdentifierAvailable = subscriptionIdentifierAvailable
            copy.sharedSubscriptionAvailable = sharedSubscriptionAvailable
            return copy
        }

        func isEqual(to other: Storage) -> Bool {
            payloadFormatIndicator == other.payloadFormatIndicator
                && messageExpiryInterval == other.messageExpiryInterval
                && contentType == other.contentType
                && responseTopic == other.responseTopic
                && correlationData == other.correlationData
                && subscriptionIdentifiers == other.subscriptionIdentifiers
                && sessionExpiryInterval == other.sessionExpiryInterval
                && assignedClientIdentifier == other.assignedClientIdentifier
                && serverKeepAlive == other.serverKeepAlive
                && authenticationMethod == other.authenticationMethod
                && authenticationData == other.authenticationData
                && requestProblemInformation == other.requestProblemInformation
                && willDelayInterval == other.willDelayInterval
                && requestResponseInformation == other.requestResponseInformation
                && responseInformation == other.responseInformation
                && serverReference == other.serverReference
                && reasonString == other.reasonString
                && receiveMaximum == other.receiveMaximum
                && topicAliasMaximum == other.topicAliasMaximum
                && topicAlias == other.topicAlias
                && maximumQoS == other.maximumQoS
                && retainAvailable == other.retainAvailable
                && userProperties == other.userProperties
                && maximumPacketSize == other.maximumPacketSize
                && wildcardSubscriptionAvailable == other.wildcardSubscriptionAvailable
                && subscriptionIdentifierAvailable == other.subscriptionIdentifierAvailable
                && sharedSubscriptionAvailable == other.sharedSubscriptionAvailable
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(payloadFormatIndicator)
            hasher.combine(messageExpiryInterval)
            hasher.combine(contentType)
            hasher.combine(responseTopic)
            hasher.combine(correlationData)
            hasher.combine(subscriptionIdentifiers)
            hasher.combine(sessionExpiryInterval)
            hasher.combine(assignedClientIdentifier)
            hasher.combine(serverKeepAlive)
            hasher.combine(authenticationMethod)
            hasher.combine(authenticationData)
            hasher.combine(requestProblemInformation)
            hasher.combine(willDelayInterval)
            hasher.combine(requestResponseInformation)
            hasher.combine(responseInformation)
            hasher.combine(serverReference)
            hasher.combine(reasonString)
            hasher.combine(receiveMaximum)
            hasher.combine(topicAliasMaximum)
            hasher.combine(topicAlias)
            hasher.combine(maximumQoS)
            hasher.combine(retainAvailable)
            hasher.combine(userProperties)
            hasher.combine(maximumPacketSize)
            hasher.combine(wildcardSubscriptionAvailable)
            hasher.combine(subscriptionIdentifierAvailable)
            hasher.combine(sharedSubscriptionAvailable)
        }
    }

    private var storage: Storage?
    /// What an absent box means, for comparisons.
    private static let empty = Storage()

    package init() {}

    /// True when no property was ever set (every 3.1.1 packet, most 5.0 PUBLISHes): nothing to read.
    package var isUnset: Bool { storage == nil }

    private mutating func mutableStorage() -> Storage {
        // Checked before any other reference to the box is taken, so a unique box is mutated in place.
        if !isKnownUniquelyReferenced(&storage) { storage = storage?.copy() ?? Storage() }
        return storage.unsafelyUnwrapped
    }

    package static func == (lhs: MQTTProperties, rhs: MQTTProperties) -> Bool {
        switch (lhs.storage, rhs.storage) {
        case (nil, nil): true
        case (let left?, nil): left.isEqual(to: MQTTProperties.empty)
        case (nil, let right?): right.isEqual(to: MQTTProperties.empty)
        case (let left?, let right?): left === right || left.isEqual(to: right)
        }
    }

    package func hash(into hasher: inout Hasher) {
        (storage ?? MQTTProperties.empty).hash(into: &hasher)
    }

    package var isEmpty: Bool { storage.map { $0.isEqual(to: MQTTProperties.empty) } ?? true }

    package var payloadFormatIndicator: UInt8? {
        get { storage?.payloadFormatIndicator ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().payloadFormatIndicator = newValue
        }
    }
    package var messageExpiryInterval: UInt32? {
        get { storage?.messageExpiryInterval ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().messageExpiryInterval = newValue
        }
    }
    package var contentType: String? {
        get { storage?.contentType ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().contentType = newValue
        }
    }
    package var responseTopic: String? {
        get { storage?.responseTopic ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().responseTopic = newValue
        }
    }
    package var correlationData: ByteBuffer? {
        get { storage?.correlationData ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().correlationData = newValue
        }
    }
    package var subscriptionIdentifiers: [Int] {
        get { storage?.subscriptionIdentifiers ?? [] }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || !newValue.isEmpty else { return }
            mutableStorage().subscriptionIdentifiers = newValue
        }
    }
    package var sessionExpiryInterval: UInt32? {
        get { storage?.sessionExpiryInterval ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().sessionExpiryInterval = newValue
        }
    }
    package var assignedClientIdentifier: String? {
        get { storage?.assignedClientIdentifier ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().assignedClientIdentifier = newValue
        }
    }
    package var serverKeepAlive: UInt16? {
        get { storage?.serverKeepAlive ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().serverKeepAlive = newValue
        }
    }
    package var authenticationMethod: String? {
        get { storage?.authenticationMethod ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().authenticationMethod = newValue
        }
    }
    package var authenticationData: ByteBuffer? {
        get { storage?.authenticationData ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().authenticationData = newValue
        }
    }
    package var requestProblemInformation: UInt8? {
        get { storage?.requestProblemInformation ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().requestProblemInformation = newValue
        }
    }
    package var willDelayInterval: UInt32? {
        get { storage?.willDelayInterval ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().willDelayInterval = newValue
        }
    }
    package var requestResponseInformation: UInt8? {
        get { storage?.requestResponseInformation ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().requestResponseInformation = newValue
        }
    }
    package var responseInformation: String? {
        get { storage?.responseInformation ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().responseInformation = newValue
        }
    }
    package var serverReference: String? {
        get { storage?.serverReference ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().serverReference = newValue
        }
    }
    package var reasonString: String? {
        get { storage?.reasonString ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().reasonString = newValue
        }
    }
    package var receiveMaximum: UInt16? {
        get { storage?.receiveMaximum ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().receiveMaximum = newValue
        }
    }
    package var topicAliasMaximum: UInt16? {
        get { storage?.topicAliasMaximum ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().topicAliasMaximum = newValue
        }
    }
    package var topicAlias: UInt16? {
        get { storage?.topicAlias ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().topicAlias = newValue
        }
    }
    package var maximumQoS: UInt8? {
        get { storage?.maximumQoS ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().maximumQoS = newValue
        }
    }
    package var retainAvailable: UInt8? {
        get { storage?.retainAvailable ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().retainAvailable = newValue
        }
    }
    package var userProperties: [MQTTUserProperty] {
        get { storage?.userProperties ?? [] }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || !newValue.isEmpty else { return }
            mutableStorage().userProperties = newValue
        }
    }
    package var maximumPacketSize: UInt32? {
        get { storage?.maximumPacketSize ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().maximumPacketSize = newValue
        }
    }
    package var wildcardSubscriptionAvailable: UInt8? {
        get { storage?.wildcardSubscriptionAvailable ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().wildcardSubscriptionAvailable = newValue
        }
    }
    package var subscriptionIdentifierAvailable: UInt8? {
        get { storage?.subscriptionIdentifierAvailable ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().subscriptionIdentifierAvailable = newValue
        }
    }
    package var sharedSubscriptionAvailable: UInt8? {
        get { storage?.sharedSubscriptionAvailable ?? nil }
        set {
            // Storing an absent value needs no box.
            guard storage != nil || newValue != nil else { return }
            mutableStorage().sharedSubscriptionAvailable = newValue
        }
    }

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
