import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import MQTTFrontend

/// The handler on EmbeddedChannels sharing one embedded loop with the bus: bytes in, packets out.
@Suite struct MQTTConnectionHandlerTests {
    let harness: EmbeddedBusHarness
    let services: MQTTServices
    var loop: EmbeddedEventLoop { harness.loop }
    var bus: Bus { harness.bus }

    init(authenticator: (any Authenticator)? = nil, bus busConfiguration: BusConfiguration = BusConfiguration()) {
        harness = EmbeddedBusHarness(configuration: busConfiguration)
        var configuration = MQTTConfiguration()
        configuration.limits.maxPacketSize = 512
        services = MQTTServices(
            bus: harness.bus, connections: harness.connections,
            authenticator: authenticator ?? StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]),
            configuration: configuration, retained: RetainedMessageStore())
    }

    func connection() throws -> EmbeddedChannel {
        try harness.connectedChannel([MQTTConnectionHandler(services: services, transport: "test")])
    }

    func send(_ channel: EmbeddedChannel, _ packets: [MQTTPacket], version: MQTTProtocolVersion) throws {
        var bytes = ByteBuffer()
        for packet in packets { packet.write(version: version, to: &bytes) }
        try channel.receiveRead(bytes)
    }

    func received(_ channel: EmbeddedChannel, version: MQTTProtocolVersion) throws -> [MQTTPacket] {
        var all = try channel.writtenBytes()
        var packets: [MQTTPacket] = []
        while let packet = try MQTTPacketDecoder.decode(&all, version: version, limits: MQTTLimits()) {
            packets.append(packet)
        }
        return packets
    }

    func connect(
        _ channel: EmbeddedChannel, _ id: String, version: MQTTProtocolVersion = .v5, clean: Bool = true,
        expiry: UInt32? = nil, keepAlive: UInt16 = 0, after: inout [MQTTPacket]
    ) throws -> MQTTConnAckPacket? {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = expiry
        try send(
            channel,
            [
                .connect(
                    MQTTConnectPacket(
                        version: version, clientID: id, cleanStart: clean, keepAliveSeconds: keepAlive,
                        properties: properties))
            ],
            version: version)
        let packets = try received(channel, version: version)
        guard case .connAck(let ack) = packets.first else { return nil }
        after = Array(packets.dropFirst())
        return ack
    }

    func connect(
        _ channel: EmbeddedChannel, _ id: String, version: MQTTProtocolVersion = .v5, clean: Bool = true,
        expiry: UInt32? = nil, keepAlive: UInt16 = 0
    ) throws -> MQTTConnAckPacket? {
        var after: [MQTTPacket] = []
        let ack = try connect(
            channel, id, version: version, clean: clean, expiry: expiry, keepAlive: keepAlive, after: &after)
        #expect(after.isEmpty)
        return ack
    }

    @Test func publishSubscribeRoundTripQoS1() throws {
        let channel = try connection()
        #expect(try connect(channel, "a")?.reasonCode == .success)
        try send(
            channel,
            [
                .subscribe(
                    MQTTSubscribePacket(
                        packetID: 1, subscriptions: [MQTTSubscription(filter: "t/#", maxQoS: .atLeastOnce)]))
            ],
            version: .v5)
        #expect(
            try received(channel, version: .v5) == [
                .subAck(MQTTSubAckPacket(.subAck, packetID: 1, reasonCodes: [.grantedQoS1]))
            ])
        try send(
            channel,
            [
                .publish(
                    MQTTPublishPacket(topic: "t/x", payload: ByteBuffer(string: "hi"), qos: .atLeastOnce, packetID: 5))
            ],
            version: .v5)
        let out = try received(channel, version: .v5)
        #expect(out.contains(.ack(MQTTAckPacket(.pubAck, packetID: 5))))
        let delivered = out.compactMap { packet -> MQTTPublishPacket? in
            if case .publish(let publish) = packet { return publish }
            return nil
        }
        #expect(delivered.count == 1)
        #expect(
            delivered.first?.topic == "t/x" && delivered.first?.qos == .atLeastOnce && delivered.first?.packetID != nil)
    }

    @Test func malformedPacketGetsDisconnect0x81() throws {
        let channel = try connection()
        _ = try connect(channel, "b")
        try channel.writeInbound(ByteBuffer(bytes: [0x36, 3, 0, 1, 0x61]))  // QoS 3
        loop.run()
        #expect(
            try received(channel, version: .v5) == [
                .disconnect(
                    MQTTDisconnectPacket(
                        reasonCode: .malformedPacket,
                        properties: {
                            var p = MQTTProperties()
                            p.reasonString = "malformed packet: PUBLISH with QoS 3"
                            return p
                        }()))
            ])
        #expect(!channel.isActive)
    }

    @Test func reasonStringIsLeftOutWhenItWouldExceedTheClientsMaximumPacketSize() throws {
        let channel = try connection()
        var properties = MQTTProperties()
        properties.maximumPacketSize = 16
        try send(
            channel, [.connect(MQTTConnectPacket(version: .v5, clientID: "small", properties: properties))],
            version: .v5)
        _ = try received(channel, version: .v5)
        try channel.writeInbound(ByteBuffer(bytes: [0x36, 3, 0, 1, 0x61]))  // QoS 3
        loop.run()
        var bytes = try channel.writtenBytes()
        // [MQTT-3.14.2-3]: DISCONNECT 0x81 without its reason string, within the client's 16 bytes.
        #expect(bytes.readableBytes <= 16)
        guard
            case .disconnect(let disconnect) = try MQTTPacketDecoder.decode(&bytes, version: .v5, limits: MQTTLimits())
        else { Issue.record("no DISCONNECT"); return }
        #expect(disconnect.reasonCode == .malformedPacket && disconnect.properties.reasonString == nil)
    }

    @Test func packetTooLargeIsRefusedFromTheHeader() throws {
        let channel = try connection()
        _ = try connect(channel, "c")
        try channel.writeInbound(ByteBuffer(bytes: [0x30, 0xE8, 0x07]))  // remaining length 1000 > 512
        loop.run()
        guard case .disconnect(let disconnect) = try received(channel, version: .v5).first else {
            Issue.record("no DISCONNECT"); return
        }
        #expect(disconnect.reasonCode == .packetTooLarge)
    }

    @Test func serverCloseHalfClosesAndLingersUntilTheClientCloses() throws {
        let recorder = HalfCloseRecorder()
        let channel = try harness.connectedChannel([
            recorder, MQTTConnectionHandler(services: services, transport: "tcp"),
        ])
        _ = try connect(channel, "linger", clean: false, expiry: 60)
        try channel.writeInbound(ByteBuffer(bytes: [0x36, 3, 0, 1, 0x61]))  // QoS 3
        loop.run()
        guard case .disconnect(let disconnect) = try received(channel, version: .v5).first else {
            Issue.record("no DISCONNECT"); return
        }
        #expect(disconnect.reasonCode == .malformedPacket)
        #expect(recorder.outputClosed && channel.isActive, "output shut down, input still read")
        // The session is left at once, so deliveries queue for the next connection meanwhile.
        #expect(services.sessions.session(for: "linger")?.connection == nil)
        // What the client still sends (here PINGREQ, in the paho test PUBRELs) is dropped, not answered.
        try send(channel, [.pingReq], version: .v5)
        #expect(try received(channel, version: .v5).isEmpty)
        loop.advanceTime(by: .seconds(Int64(services.configuration.closeLingerSeconds)))
        #expect(!channel.isActive, "closed when the client did not close first")
    }

    @Test func responseInformationIsThePrefixAndTheClientIdentifierWhenThatIsATopic() throws {
        var properties = MQTTProperties()
        properties.requestResponseInformation = 1
        func responseInformation(_ id: String) throws -> String? {
            let channel = try connection()
            try send(
                channel, [.connect(MQTTConnectPacket(version: .v5, clientID: id, properties: properties))],
                version: .v5)
            guard case .connAck(let ack) = try received(channel, version: .v5).first else {
                Issue.record("no CONNACK"); return nil
            }
            return ack.properties.responseInformation
        }
        #expect(try responseInformation("device-1") == "$rpc/mqtt/device-1")
        // A client identifier with a wildcard would make no topic name: none is offered.
        #expect(try responseInformation("a+b") == nil)
    }

    @Test func shutdownNamesTheServerReferenceWhenOneIsConfigured() throws {
        var configuration = MQTTConfiguration()
        configuration.settings.serverReference = "mqtt-2.example:1883"
        let redirecting = MQTTServices(
            bus: bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]), configuration: configuration,
            retained: RetainedMessageStore())
        var handlers: [MQTTConnectionHandler] = []
        func open(_ version: MQTTProtocolVersion) throws -> EmbeddedChannel {
            let handler = MQTTConnectionHandler(services: redirecting, transport: "test")
            handlers.append(handler)
            let channel = try harness.connectedChannel([handler])
            #expect(try connect(channel, "r\(version.rawValue)", version: version)?.reasonCode == .success)
            return channel
        }
        let v5 = try open(.v5)
        let v3 = try open(.v3_1_1)
        for handler in handlers { handler.requestClose(.shutdown) }
        loop.run()
        // §4.11: 0x9C (Use another server) with Server Reference; 3.1.1 has no DISCONNECT and just closes.
        guard case .disconnect(let disconnect) = try received(v5, version: .v5).first else {
            Issue.record("no DISCONNECT"); return
        }
        #expect(disconnect.reasonCode == .useAnotherServer)
        #expect(disconnect.properties.serverReference == "mqtt-2.example:1883")
        #expect(try received(v3, version: .v3_1_1).isEmpty && !v3.isActive)
    }

    @Test func keepAliveTimeoutDisconnects() throws {
        let channel = try connection()
        _ = try connect(channel, "d", keepAlive: 2)
        loop.advanceTime(by: .seconds(2))
        #expect(channel.isActive, "still within 1.5 × keep-alive")
        loop.advanceTime(by: .milliseconds(1800))
        guard case .disconnect(let disconnect) = try received(channel, version: .v5).first else {
            Issue.record("no DISCONNECT"); return
        }
        #expect(disconnect.reasonCode == .keepAliveTimeout)
    }

    @Test func offlineQoS1IsQueuedAndDeliveredOnResume() throws {
        let first = try connection()
        _ = try connect(first, "e", clean: false, expiry: 60)
        try send(
            first,
            [
                .subscribe(
                    MQTTSubscribePacket(
                        packetID: 1, subscriptions: [MQTTSubscription(filter: "q", maxQoS: .atLeastOnce)]))
            ],
            version: .v5)
        _ = try received(first, version: .v5)
        _ = first.close()
        loop.run()
        bus.publish(
            BusMessage(
                topic: try Topic("q"), payload: ByteBuffer(string: "while away"), headers: MessageHeaders(qos: 1),
                timestamp: bus.clock()),
            on: loop)
        loop.run()
        let second = try connection()
        var out: [MQTTPacket] = []
        let ack = try connect(second, "e", clean: false, expiry: 60, after: &out)
        #expect(ack?.sessionPresent == true)
        guard case .publish(let publish) = out.first else { Issue.record("nothing delivered: \(out)"); return }
        #expect(String(buffer: publish.payload) == "while away" && publish.qos == .atLeastOnce)
    }

    @Test func resumeResendsNoMoreThanTheNewReceiveMaximum() throws {
        func resume(_ channel: EmbeddedChannel, receiveMaximum: UInt16) throws -> [MQTTPacket] {
            var properties = MQTTProperties()
            properties.sessionExpiryInterval = 60
            properties.receiveMaximum = receiveMaximum
            try send(
                channel,
                [.connect(MQTTConnectPacket(version: .v5, clientID: "rm", cleanStart: false, properties: properties))],
                version: .v5)
            return try received(channel, version: .v5)
        }
        func publishes(_ packets: [MQTTPacket]) -> [MQTTPublishPacket] {
            packets.compactMap { packet in
                if case .publish(let publish) = packet { return publish }
                return nil
            }
        }
        func describe(_ packet: MQTTPublishPacket) -> String {
            "\(String(buffer: packet.payload))\(packet.duplicate ? " dup" : "") \(packet.packetID ?? 0)"
        }
        func publish(_ text: String, qos: UInt8) throws {
            bus.publish(
                BusMessage(
                    topic: try Topic("w"), payload: ByteBuffer(string: text), headers: MessageHeaders(qos: qos),
                    timestamp: bus.clock()),
                on: loop)
            loop.run()
        }
        let first = try connection()
        _ = try resume(first, receiveMaximum: 4)
        try send(
            first,
            [
                .subscribe(
                    MQTTSubscribePacket(
                        packetID: 1, subscriptions: [MQTTSubscription(filter: "w", maxQoS: .exactlyOnce)]))
            ],
            version: .v5)
        _ = try received(first, version: .v5)
        for (text, qos) in [("a", 2), ("b", 1), ("c", 1), ("d", 1)] as [(String, UInt8)] { try publish(text, qos: qos) }
        let sent = publishes(try received(first, version: .v5))
        #expect(sent.map { String(buffer: $0.payload) } == ["a", "b", "c", "d"])
        guard sent.count == 4 else { return }
        let ids = sent.map { $0.packetID! }
        // "a" is PUBREC'd: it waits for PUBCOMP and still counts against the window.
        try send(first, [.ack(MQTTAckPacket(.pubRec, packetID: ids[0]))], version: .v5)
        _ = try received(first, version: .v5)
        _ = first.close()
        loop.run()
        // The client comes back with Receive Maximum 2: PUBREL for "a" at once ([MQTT-3.3.4-10]) and only
        // "b" again, so that two are outstanding ([MQTT-3.3.4-9]); "c" and "d" wait, in order.
        let second = try connection()
        let resumed = try resume(second, receiveMaximum: 2).dropFirst()
        #expect(resumed.first == .ack(MQTTAckPacket(.pubRel, packetID: ids[0])))
        #expect(publishes(Array(resumed)).map(describe) == ["b dup \(ids[1])"])
        try send(second, [.ack(MQTTAckPacket(.pubAck, packetID: ids[1]))], version: .v5)
        #expect(publishes(try received(second, version: .v5)).map(describe) == ["c dup \(ids[2])"])
        try send(second, [.ack(MQTTAckPacket(.pubComp, packetID: ids[0]))], version: .v5)
        #expect(publishes(try received(second, version: .v5)).map(describe) == ["d dup \(ids[3])"])
        // A new message waits until the window has room, behind the resent ones.
        try publish("e", qos: 1)
        #expect(publishes(try received(second, version: .v5)).isEmpty)
        try send(second, [.ack(MQTTAckPacket(.pubAck, packetID: ids[2]))], version: .v5)
        #expect(publishes(try received(second, version: .v5)).map { String(buffer: $0.payload) } == ["e"])
    }

    @Test func sessionTakeoverDisconnectsTheOldConnectionWith0x8E() throws {
        let first = try connection()
        _ = try connect(first, "f")
        let second = try connection()
        #expect(try connect(second, "f")?.reasonCode == .success)
        guard case .disconnect(let disconnect) = try received(first, version: .v5).first else {
            Issue.record("no DISCONNECT"); return
        }
        #expect(disconnect.reasonCode == .sessionTakenOver)
    }

    @Test func sessionLimitRefusesNewClientIdentifiers() throws {
        var configuration = MQTTConfiguration()
        configuration.settings.maxSessions = 1
        let limited = MQTTServices(
            bus: bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]), configuration: configuration,
            retained: RetainedMessageStore())
        func open() throws -> EmbeddedChannel {
            try harness.connectedChannel([MQTTConnectionHandler(services: limited, transport: "test")])
        }
        #expect(try connect(try open(), "first", clean: false, expiry: 60)?.reasonCode == .success)
        let refused = try open()
        #expect(try connect(refused, "second", clean: false, expiry: 60)?.reasonCode == .quotaExceeded)
        #expect(!refused.isActive)
        // The existing client id may still come back.
        #expect(try connect(try open(), "first", clean: false, expiry: 60)?.reasonCode == .success)
    }
}

/// Takes `close(mode: .output)` instead of passing it on (EmbeddedChannel would close outright), so a test
/// sees a half-closed, lingering connection.
final class HalfCloseRecorder: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private(set) var outputClosed = false

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .output else { return context.close(mode: mode, promise: promise) }
        outputClosed = true
        promise?.succeed(())
    }
}
