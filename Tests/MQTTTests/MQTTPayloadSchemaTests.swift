import BusCore
import BusRuntime
import MQTTWire
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import MQTTFrontend

/// Payload schema refusals as the handler writes them, per version and QoS (docs/topics.md, "Payload
/// schemas"; docs/protocols/mqtt.md).
@Suite struct MQTTPayloadSchemaTests {
    let harness = MQTTConnectionHandlerTests(bus: .sensorsSchema)

    private func publish(_ topic: String, _ payload: String, qos: MQTTQoS, id: UInt16?) -> MQTTPacket {
        .publish(MQTTPublishPacket(topic: topic, payload: ByteBuffer(string: payload), qos: qos, packetID: id))
    }

    @Test func qos1And2AreRefused0x99WithThePointerAndValidOnesPass() throws {
        let channel = try harness.connection()
        #expect(try harness.connect(channel, "five")?.reasonCode == .success)
        try harness.send(
            channel,
            [
                publish("sensors/a", #"{"id":"s","temp":120}"#, qos: .atLeastOnce, id: 1),
                publish("sensors/a", #"{"id":"s"}"#, qos: .exactlyOnce, id: 2),
                publish("sensors/a", #"{"id":"s","temp":20}"#, qos: .atLeastOnce, id: 3),
                publish("other/a", "not json", qos: .atLeastOnce, id: 4),
            ],
            version: .v5)
        let out = try harness.received(channel, version: .v5)
        let acks = out.compactMap { packet -> MQTTAckPacket? in if case .ack(let ack) = packet { ack } else { nil } }
        #expect(acks.map(\.packetID) == [1, 2, 3, 4])
        #expect(acks.map(\.reasonCode) == [.payloadFormatInvalid, .payloadFormatInvalid, .success, .success])
        #expect(acks[0].kind == .pubAck && acks[1].kind == .pubRec)
        #expect(acks[0].properties.reasonString?.contains("\"/temp\"") == true)
        #expect(acks[1].properties.reasonString?.contains("\"\"") == true)
        // The refused QoS 2 flow is over: the same identifier is a new message.
        try harness.send(
            channel, [publish("sensors/a", #"{"id":"s","temp":1}"#, qos: .exactlyOnce, id: 2)], version: .v5)
        #expect(try harness.received(channel, version: .v5) == [.ack(MQTTAckPacket(.pubRec, packetID: 2))])
        #expect(channel.isActive)
    }

    @Test func qos0IsDisconnected0x99In5() throws {
        let channel = try harness.connection()
        #expect(try harness.connect(channel, "zero")?.reasonCode == .success)
        try harness.send(channel, [publish("sensors/a", "[1]", qos: .atMostOnce, id: nil)], version: .v5)
        let out = try harness.received(channel, version: .v5)
        guard case .disconnect(let disconnect)? = out.last else {
            Issue.record("expected DISCONNECT, got \(out)")
            return
        }
        #expect(disconnect.reasonCode == .payloadFormatInvalid)
        #expect(disconnect.properties.reasonString?.contains("sensors/#") == true)
        #expect(!channel.isActive)
    }

    @Test(arguments: [MQTTQoS.atMostOnce, .atLeastOnce])
    func version311ClosesTheConnection(qos: MQTTQoS) throws {
        let channel = try harness.connection()
        #expect(try harness.connect(channel, "old", version: .v3_1_1)?.reasonCode == .success)
        try harness.send(
            channel, [publish("sensors/a", "{}", qos: qos, id: qos == .atMostOnce ? nil : 7)], version: .v3_1_1)
        #expect(try harness.received(channel, version: .v3_1_1) == [])
        #expect(!channel.isActive)
    }

    @Test func aValidPublishIsDelivered() throws {
        let channel = try harness.connection()
        #expect(try harness.connect(channel, "sub")?.reasonCode == .success)
        try harness.send(
            channel,
            [
                .subscribe(
                    MQTTSubscribePacket(
                        packetID: 1, subscriptions: [MQTTSubscription(filter: "sensors/#", maxQoS: .atMostOnce)])),
                publish("sensors/a", #"{"id":"x","temp":0}"#, qos: .atMostOnce, id: nil),
            ],
            version: .v5)
        harness.loop.run()
        let delivered = try harness.received(channel, version: .v5).compactMap { packet -> MQTTPublishPacket? in
            if case .publish(let publish) = packet { publish } else { nil }
        }
        #expect(delivered.map(\.topic) == ["sensors/a"])
        #expect(channel.isActive)
    }
}
