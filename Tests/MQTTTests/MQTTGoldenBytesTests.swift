import MQTTWire
import NIOCore
import Testing

/// Every packet type in both versions against bytes laid out by hand from the spec's figures: the
/// encoder must produce exactly these bytes and the decoder must read them back to the same value.
@Suite struct MQTTGoldenBytesTests {
    static let limits = MQTTLimits()

    /// Encodes `packet`, compares with `bytes`, and decodes `bytes` back.
    func check(_ packet: MQTTPacket, _ version: MQTTProtocolVersion, _ bytes: [UInt8], connect: Bool = false) throws {
        let encoded = packet.encoded(version: version)
        #expect(Array(encoded.readableBytesView) == bytes, "encoding of \(packet.type) (\(version))")
        var buffer = ByteBuffer(bytes: bytes)
        let decoded = try MQTTPacketDecoder.decode(&buffer, version: connect ? nil : version, limits: Self.limits)
        #expect(decoded == packet)
        #expect(buffer.readableBytes == 0)
    }

    static func s(_ text: String) -> [UInt8] {
        [UInt8(text.utf8.count >> 8), UInt8(text.utf8.count & 0xFF)] + Array(text.utf8)
    }

    // MARK: CONNECT / CONNACK

    @Test func connect311() throws {
        // §3.1.2: "MQTT", level 4, flags (user, password, will QoS 1, clean), keep alive 10.
        let packet = MQTTPacket.connect(
            MQTTConnectPacket(
                version: .v3_1_1, clientID: "c1", cleanStart: true, keepAliveSeconds: 10, username: "u",
                password: ByteBuffer(bytes: [0x70]),
                will: MQTTWill(topic: "w", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, retain: false)))
        let body: [UInt8] =
            Self.s("MQTT") + [0x04, 0b1100_1110, 0x00, 0x0A] + Self.s("c1") + Self.s("w") + Self.s("x") + Self.s("u")
            + [0x00, 0x01, 0x70]
        try check(packet, .v3_1_1, [0x10, UInt8(body.count)] + body, connect: true)
    }

    @Test func connect5WithProperties() throws {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 120
        properties.receiveMaximum = 20
        var willProperties = MQTTProperties()
        willProperties.willDelayInterval = 5
        let packet = MQTTPacket.connect(
            MQTTConnectPacket(
                version: .v5, clientID: "", cleanStart: false, keepAliveSeconds: 60,
                will: MQTTWill(
                    topic: "w", payload: ByteBuffer(), qos: .exactlyOnce, retain: true, properties: willProperties),
                properties: properties))
        // §3.1.2.11: properties length 8 = 0x11 + u32, 0x21 + u16.
        let body: [UInt8] =
            Self.s("MQTT") + [0x05, 0b0011_0100, 0x00, 0x3C] + [0x08, 0x11, 0, 0, 0, 120, 0x21, 0, 20] + Self.s("")
            + [0x05, 0x18, 0, 0, 0, 5] + Self.s("w") + [0x00, 0x00]
        try check(packet, .v5, [0x10, UInt8(body.count)] + body, connect: true)
    }

    @Test func connAck() throws {
        try check(.connAck(MQTTConnAckPacket(sessionPresent: true, reasonCode: .success)), .v3_1_1, [0x20, 2, 1, 0])
        // 3.1.1 return code 5: not authorized.
        try check(
            .connAck(MQTTConnAckPacket(sessionPresent: false, reasonCode: .notAuthorized)), .v3_1_1, [0x20, 2, 0, 5])
        var properties = MQTTProperties()
        properties.assignedClientIdentifier = "id"
        properties.topicAliasMaximum = 10
        try check(
            .connAck(MQTTConnAckPacket(sessionPresent: false, reasonCode: .success, properties: properties)), .v5,
            [0x20, 11, 0, 0, 8, 0x12] + Self.s("id") + [0x22, 0, 10])
    }

    // MARK: PUBLISH and its acknowledgements

    @Test func publish() throws {
        try check(
            .publish(MQTTPublishPacket(topic: "a/b", payload: ByteBuffer(string: "hi"))), .v3_1_1,
            [0x30, 7] + Self.s("a/b") + Array("hi".utf8))
        try check(
            .publish(
                MQTTPublishPacket(
                    topic: "a", payload: ByteBuffer(string: "x"), qos: .exactlyOnce, retain: true, duplicate: true,
                    packetID: 0x1234)), .v3_1_1,
            [0x3D, 6] + Self.s("a") + [0x12, 0x34, 0x78])
        var properties = MQTTProperties()
        properties.payloadFormatIndicator = 1
        properties.messageExpiryInterval = 60
        properties.contentType = "t"
        properties.responseTopic = "r"
        properties.correlationData = ByteBuffer(bytes: [9])
        properties.subscriptionIdentifiers = [3, 200]
        properties.topicAlias = 4
        properties.userProperties = [MQTTUserProperty(name: "k", value: "v")]
        let props: [UInt8] =
            [0x01, 1, 0x02, 0, 0, 0, 60, 0x03] + Self.s("t") + [0x08] + Self.s("r") + [0x09, 0, 1, 9]
            + [0x0B, 3, 0x0B, 0xC8, 0x01, 0x23, 0, 4, 0x26] + Self.s("k") + Self.s("v")
        let body = Self.s("a") + [0, 7] + [UInt8(props.count)] + props + [0x41]
        try check(
            .publish(
                MQTTPublishPacket(
                    topic: "a", payload: ByteBuffer(string: "A"), qos: .atLeastOnce, packetID: 7, properties: properties
                )),
            .v5, [0x32, UInt8(body.count)] + body)
    }

    /// The delivery path's direct QoS 0 writer produces the same bytes as the packet encoder, in both
    /// versions, with and without RETAIN, after other bytes in the buffer, and across the one- to
    /// two-byte remaining-length boundary.
    @Test func atMostOnceWriterMatchesEncoder() {
        for version in [MQTTProtocolVersion.v3_1_1, .v5] {
            for retain in [false, true] {
                for (topic, size) in [("a/b", 2), ("", 0), ("t", 120), ("topic/é", 125), ("x", 300)] {
                    let payload = ByteBuffer(repeating: 0x41, count: size)
                    let expected = MQTTPacket.publish(MQTTPublishPacket(topic: topic, payload: payload, retain: retain))
                        .encoded(version: version)
                    var buffer = ByteBuffer(string: "before")
                    MQTTPublishPacket.writeAtMostOnce(
                        topic: topic, payload: payload, retain: retain, version: version, to: &buffer)
                    #expect(buffer.readString(length: 6) == "before")
                    #expect(buffer == expected, "\(version) retain \(retain) topic \(topic) payload \(size)")
                    #expect(
                        MQTTPublishPacket.atMostOnceSize(
                            topicBytes: topic.utf8.count, payloadBytes: size, version: version)
                            == expected.readableBytes)
                }
            }
        }
    }

    @Test func acknowledgements() throws {
        try check(.ack(MQTTAckPacket(.pubAck, packetID: 1)), .v3_1_1, [0x40, 2, 0, 1])
        try check(.ack(MQTTAckPacket(.pubRec, packetID: 2)), .v3_1_1, [0x50, 2, 0, 2])
        try check(.ack(MQTTAckPacket(.pubRel, packetID: 3)), .v3_1_1, [0x62, 2, 0, 3])
        try check(.ack(MQTTAckPacket(.pubComp, packetID: 4)), .v3_1_1, [0x70, 2, 0, 4])
        // 5.0: short form for success, reason code without properties, and with a reason string.
        try check(.ack(MQTTAckPacket(.pubAck, packetID: 1)), .v5, [0x40, 2, 0, 1])
        try check(
            .ack(MQTTAckPacket(.pubRec, packetID: 1, reasonCode: .noMatchingSubscribers)), .v5, [0x50, 3, 0, 1, 0x10])
        var properties = MQTTProperties()
        properties.reasonString = "no"
        try check(
            .ack(MQTTAckPacket(.pubAck, packetID: 9, reasonCode: .notAuthorized, properties: properties)), .v5,
            [0x40, 9, 0, 9, 0x87, 5, 0x1F] + Self.s("no"))
        try check(
            .ack(MQTTAckPacket(.pubComp, packetID: 5, reasonCode: .packetIdentifierNotFound)), .v5,
            [0x70, 3, 0, 5, 0x92])
        // §3.4.2.1: a PUBACK with reason code and property length 0.
        var buffer = ByteBuffer(bytes: [0x40, 4, 0, 1, 0x10, 0])
        #expect(
            try MQTTPacketDecoder.decode(&buffer, version: .v5, limits: Self.limits)
                == .ack(MQTTAckPacket(.pubAck, packetID: 1, reasonCode: .noMatchingSubscribers)))
    }

    // MARK: SUBSCRIBE / UNSUBSCRIBE

    @Test func subscribe() throws {
        try check(
            .subscribe(
                MQTTSubscribePacket(
                    packetID: 10,
                    subscriptions: [
                        MQTTSubscription(filter: "a/+", maxQoS: .atLeastOnce),
                        MQTTSubscription(filter: "#", maxQoS: .exactlyOnce),
                    ])), .v3_1_1,
            [0x82, 12, 0, 10] + Self.s("a/+") + [1] + Self.s("#") + [2])
        var properties = MQTTProperties()
        properties.subscriptionIdentifiers = [5]
        try check(
            .subscribe(
                MQTTSubscribePacket(
                    packetID: 11,
                    subscriptions: [
                        MQTTSubscription(
                            filter: "$share/g/x", maxQoS: .atLeastOnce, noLocal: true, retainAsPublished: true,
                            retainHandling: 2)
                    ], properties: properties)), .v5,
            [0x82, 18, 0, 11, 2, 0x0B, 5] + Self.s("$share/g/x") + [0b0010_1101])
    }

    @Test func subAckAndUnsubAck() throws {
        try check(
            .subAck(MQTTSubAckPacket(.subAck, packetID: 10, reasonCodes: [.grantedQoS1, .unspecifiedError])), .v3_1_1,
            [0x90, 4, 0, 10, 1, 0x80])
        try check(
            .subAck(
                MQTTSubAckPacket(.subAck, packetID: 10, reasonCodes: [.success, .sharedSubscriptionsNotSupported])),
            .v5, [0x90, 5, 0, 10, 0, 0, 0x9E])
        try check(.subAck(MQTTSubAckPacket(.unsubAck, packetID: 3, reasonCodes: [])), .v3_1_1, [0xB0, 2, 0, 3])
        try check(
            .subAck(MQTTSubAckPacket(.unsubAck, packetID: 3, reasonCodes: [.success, .noSubscriptionExisted])), .v5,
            [0xB0, 5, 0, 3, 0, 0, 0x11])
        try check(
            .unsubscribe(MQTTUnsubscribePacket(packetID: 3, filters: ["a", "b/#"])), .v3_1_1,
            [0xA2, 10, 0, 3] + Self.s("a") + Self.s("b/#"))
        try check(
            .unsubscribe(MQTTUnsubscribePacket(packetID: 3, filters: ["a"])), .v5, [0xA2, 6, 0, 3, 0] + Self.s("a"))
    }

    // MARK: PING, DISCONNECT, AUTH

    @Test func pingDisconnectAuth() throws {
        for version in [MQTTProtocolVersion.v3_1_1, .v5] {
            try check(.pingReq, version, [0xC0, 0])
            try check(.pingResp, version, [0xD0, 0])
            try check(.disconnect(MQTTDisconnectPacket()), version, [0xE0, 0])
        }
        try check(.disconnect(MQTTDisconnectPacket(reasonCode: .disconnectWithWill)), .v5, [0xE0, 1, 0x04])
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 0
        try check(
            .disconnect(MQTTDisconnectPacket(reasonCode: .sessionTakenOver, properties: properties)), .v5,
            [0xE0, 7, 0x8E, 5, 0x11, 0, 0, 0, 0])
        var auth = MQTTProperties()
        auth.authenticationMethod = "m"
        try check(
            .auth(MQTTDisconnectPacket(reasonCode: MQTTReasonCode(0x18), properties: auth)), .v5,
            [0xF0, 6, 0x18, 4, 0x15] + Self.s("m"))
    }

    @Test func largeRemainingLengthUsesMinimalVariableByteInteger() throws {
        let payload = ByteBuffer(repeating: 0x61, count: 200)
        let packet = MQTTPacket.publish(MQTTPublishPacket(topic: "t", payload: payload))
        // 3 (topic) + 200 = 203 = 0xCB 0x01 (§1.5.5 example: 128 → 0x80 0x01).
        try check(packet, .v3_1_1, [0x30, 0xCB, 0x01] + Self.s("t") + Array(repeating: 0x61, count: 200))
    }
}
