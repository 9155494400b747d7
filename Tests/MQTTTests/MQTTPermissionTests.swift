import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore
import NIOEmbedded
import Testing

@testable import MQTTFrontend

/// Permission refusals as the handler writes them, per version (docs/security.md §5).
@Suite struct MQTTPermissionTests {
    /// Accepts everyone as alice, who may use `users/alice/#` only.
    struct AliceAuthenticator: Authenticator {
        var allowsAnonymous: Bool { true }
        func authenticate(_ credentials: ClientCredentials) -> AuthOutcome {
            let own = [try! TopicFilter("users/alice/#")]
            return .accepted(
                ClientIdentity(
                    userID: "alice", permissions: TopicPermissions(publish: .only(own), subscribe: .only(own))))
        }
    }

    let harness: MQTTConnectionHandlerTests

    init() {
        harness = MQTTConnectionHandlerTests(authenticator: AliceAuthenticator())
    }

    private func subscribe(_ channel: EmbeddedChannel, _ filters: [String], version: MQTTProtocolVersion) throws
        -> [MQTTPacket]
    {
        let subscriptions = filters.map { MQTTSubscription(filter: $0, maxQoS: .atLeastOnce) }
        try harness.send(
            channel, [.subscribe(MQTTSubscribePacket(packetID: 1, subscriptions: subscriptions))], version: version)
        return try harness.received(channel, version: version)
    }

    @Test(arguments: [MQTTProtocolVersion.v5, .v3_1_1])
    func forbiddenFiltersAreRefusedInTheSubAck(version: MQTTProtocolVersion) throws {
        let channel = try harness.connection()
        #expect(try harness.connect(channel, "a", version: version)?.reasonCode == .success)
        let out = try subscribe(channel, ["users/bob/#", "users/alice/+", "#"], version: version)
        // 3.1.1 writes every failure as 0x80 ([MQTT-3.9.3-2]); decoded back it reads 0x80.
        let refused: MQTTReasonCode = version == .v5 ? .notAuthorized : .unspecifiedError
        #expect(
            out == [.subAck(MQTTSubAckPacket(.subAck, packetID: 1, reasonCodes: [refused, .grantedQoS1, refused]))])
    }

    @Test func forbiddenPublishIsRefused0x87In5AndAcknowledgedIn311() throws {
        let v5 = try harness.connection()
        #expect(try harness.connect(v5, "five")?.reasonCode == .success)
        let payload = ByteBuffer(string: "x")
        try harness.send(
            v5,
            [
                .publish(MQTTPublishPacket(topic: "users/bob/x", payload: payload, qos: .atLeastOnce, packetID: 3)),
                .publish(MQTTPublishPacket(topic: "users/bob/x", payload: payload, qos: .exactlyOnce, packetID: 4)),
            ],
            version: .v5)
        #expect(
            try harness.received(v5, version: .v5) == [
                .ack(MQTTAckPacket(.pubAck, packetID: 3, reasonCode: .notAuthorized)),
                .ack(MQTTAckPacket(.pubRec, packetID: 4, reasonCode: .notAuthorized)),
            ])
        // The refused QoS 2 flow is over: the same identifier is a new message, not a duplicate.
        try harness.send(
            v5,
            [.publish(MQTTPublishPacket(topic: "users/alice/x", payload: payload, qos: .exactlyOnce, packetID: 4))],
            version: .v5)
        #expect(try harness.received(v5, version: .v5) == [.ack(MQTTAckPacket(.pubRec, packetID: 4))])

        let old = try harness.connection()
        #expect(try harness.connect(old, "old", version: .v3_1_1)?.reasonCode == .success)
        try harness.send(
            old,
            [.publish(MQTTPublishPacket(topic: "users/bob/x", payload: payload, qos: .atLeastOnce, packetID: 9))],
            version: .v3_1_1)
        #expect(try harness.received(old, version: .v3_1_1) == [.ack(MQTTAckPacket(.pubAck, packetID: 9))])
    }
}
