/// The protocol level a connection speaks, chosen by its CONNECT packet and passed explicitly to every
/// encode and decode (one codec for both versions).
package enum MQTTProtocolVersion: UInt8, Sendable, Hashable {
    /// MQTT 3.1.1 (protocol level 4).
    case v3_1_1 = 4
    /// MQTT 5.0 (protocol level 5).
    case v5 = 5

    /// Whether packets carry reason codes and properties.
    package var hasProperties: Bool { self == .v5 }
}

/// Quality of service of a publication or a subscription.
package enum MQTTQoS: UInt8, Sendable, Hashable, Comparable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    package static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The packet types of the fixed header's high nibble (MQTT 5.0 §2.1.2).
package enum MQTTPacketType: UInt8, Sendable, Hashable {
    case connect = 1
    case connAck = 2
    case publish = 3
    case pubAck = 4
    case pubRec = 5
    case pubRel = 6
    case pubComp = 7
    case subscribe = 8
    case subAck = 9
    case unsubscribe = 10
    case unsubAck = 11
    case pingReq = 12
    case pingResp = 13
    case disconnect = 14
    case auth = 15
}
