import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import MQTTFrontend

/// A session resumed on another event loop: moved with its queue and subscriptions, nothing lost.
@Suite struct MQTTSessionMoveTests {
    let first = EmbeddedEventLoop()
    let second = EmbeddedEventLoop()

    @Test func sessionMovesToTheNewConnectionsLoop() throws {
        let bus = Bus(eventLoops: [first, second])
        let services = MQTTServices(
            bus: bus, connections: ConnectionRegistry(maxConnections: 10),
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]),
            configuration: MQTTConfiguration(), retained: RetainedMessageStore())
        func open(on loop: EmbeddedEventLoop) throws -> EmbeddedChannel {
            let channel = EmbeddedChannel(loop: loop)
            try channel.pipeline.syncOperations.addHandler(MQTTConnectionHandler(services: services, transport: "test"))
            try channel.connectFromTestPeer()
            return channel
        }
        func send(_ channel: EmbeddedChannel, _ packet: MQTTPacket) throws {
            try channel.writeInbound(packet.encoded(version: .v5))
            channel.pipeline.fireChannelReadComplete()
            first.run()
            second.run()
        }
        func received(_ channel: EmbeddedChannel) throws -> [MQTTPacket] {
            var all = try channel.writtenBytes()
            var packets: [MQTTPacket] = []
            while let packet = try MQTTPacketDecoder.decode(&all, version: .v5, limits: MQTTLimits()) {
                packets.append(packet)
            }
            return packets
        }
        func publish(_ text: String) {
            bus.publish(
                BusMessage(
                    topic: try! Topic("q"), payload: ByteBuffer(string: text), headers: MessageHeaders(qos: 1),
                    timestamp: bus.clock()), on: first)
            first.run()
            second.run()
        }
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 60
        let connect = MQTTPacket.connect(
            MQTTConnectPacket(version: .v5, clientID: "mover", cleanStart: false, properties: properties))
        let a = try open(on: first)
        try send(a, connect)
        try send(
            a,
            .subscribe(
                MQTTSubscribePacket(packetID: 1, subscriptions: [MQTTSubscription(filter: "q", maxQoS: .atLeastOnce)])))
        _ = try received(a)
        _ = a.close()
        first.run()
        publish("queued")
        let b = try open(on: second)
        try send(b, connect)
        publish("live")
        let payloads = try received(b).compactMap { packet -> String? in
            if case .publish(let publish) = packet { return String(buffer: publish.payload) }
            return nil
        }
        #expect(payloads == ["queued", "live"])
        #expect(services.sessions.session(for: "mover")?.eventLoop === second)
    }
}
