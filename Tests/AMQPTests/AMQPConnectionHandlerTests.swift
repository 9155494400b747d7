import AMQPWire
import Atomics
import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import AMQPFrontend

/// The AMQP connection handler on an EmbeddedChannel: frames in, frames out, the broker's queues and the
/// bus on the same embedded loop. The client side is written with the codec itself.
@Suite struct AMQPConnectionHandlerTests {
    let harness = EmbeddedBusHarness()
    let channel: EmbeddedChannel
    let services: AMQPServices
    let handler: AMQPConnectionHandler

    init(anonymous: Bool = true) throws {
        services = AMQPServices(
            configuration: AMQPConfiguration(), bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: anonymous, tokens: ["t": "alice"]),
            virtualHosts: VirtualHosts(
                bus: harness.bus, metricsSlot: harness.bus.metrics.slot(for: "queues"),
                definitions: [VirtualHostDefinition(name: "tenant-a", topicPrefix: "tenants/a")]))
        handler = AMQPConnectionHandler(services: services)
        channel = try harness.connectedChannel([handler])
    }

    func send(_ method: AMQPMethod, channel number: UInt16 = 0) throws {
        try channel.receiveRead(method.frame(channel: number))
    }

    func sendContent(
        _ publish: AMQPBasicPublish, body: String, properties: AMQPBasicProperties = .init(), channel number: UInt16 = 1
    )
        throws
    {
        var bytes = ByteBuffer()
        AMQPDeliveryEncoder.write(
            .basic(.publish(publish)), channel: number,
            content: AMQPEncodedContent(properties: properties, body: ByteBuffer(string: body)), frameMax: 131_072,
            to: &bytes)
        try channel.receiveRead(bytes)
    }

    /// Every frame written since the last call, decoded.
    func received() throws -> [(channel: UInt16, method: AMQPMethod?, body: String?)] {
        var bytes = ByteBuffer()
        for var buffer in try channel.writtenBuffers() { bytes.writeBuffer(&buffer) }
        var frames: [(UInt16, AMQPMethod?, String?)] = []
        while let frame = try AMQPFrameDecoder.decodeFrame(&bytes, frameMax: 1 << 20) {
            switch frame.type {
            case .method:
                frames.append((frame.channel, try AMQPMethod.decode(frame.payload, limits: AMQPLimits()), nil))
            case .body: frames.append((frame.channel, nil, String(buffer: frame.payload)))
            default: continue
            }
        }
        return frames
    }

    /// The handshake as pika does it, up to an open channel 1.
    func open(username: String = "guest", password: String = "guest", capabilities: AMQPFieldTable = [:]) throws {
        var header = ByteBuffer()
        AMQPProtocolHeader.write(to: &header)
        try channel.receiveRead(header)
        guard case .connection(.start(let start))? = try received().first?.method else {
            Issue.record("no connection.start")
            return
        }
        #expect(start.mechanisms.contains("PLAIN"))
        try send(
            .connection(
                .startOk(
                    AMQPConnectionStartOk(
                        clientProperties: ["capabilities": .table(capabilities)], mechanism: "PLAIN",
                        response: AMQPSASL.plainResponse(username: username, password: password), locale: "en_US"))))
        guard case .connection(.tune(let tune))? = try received().first?.method else {
            Issue.record("no connection.tune")
            return
        }
        #expect(tune.frameMax == 131_072 && tune.channelMax == 2047)
        try send(.connection(.tuneOk(AMQPConnectionTune(channelMax: 100, frameMax: 65_536, heartbeat: 0))))
        try send(.connection(.open(virtualHost: "/")))
        #expect(try received().map(\.method) == [.connection(.openOk)])
        try send(.channel(.open), channel: 1)
        #expect(try received().map(\.method) == [.channel(.openOk)])
    }

    @Test func handshakePublishConsumeAck() throws {
        try open()
        try send(.queue(.declare(AMQPQueueDeclare(queue: "work"))), channel: 1)
        #expect(
            try received().map(\.method) == [
                .queue(.declareOk(AMQPQueueDeclareOk(queue: "work", messageCount: 0, consumerCount: 0)))
            ])
        try sendContent(AMQPBasicPublish(exchange: "", routingKey: "work"), body: "hello")
        try send(
            .basic(
                .consume(
                    AMQPBasicConsume(
                        queue: "work", consumerTag: "c1", noLocal: false, noAck: false, exclusive: false, noWait: false,
                        arguments: [:]))), channel: 1)
        let frames = try received()
        // consume-ok comes before the first delivery.
        #expect(frames.first?.method == .basic(.consumeOk(consumerTag: "c1")))
        guard case .basic(.deliver(let deliver))? = frames.dropFirst().first?.method else {
            Issue.record("no delivery: \(frames)")
            return
        }
        #expect(deliver.consumerTag == "c1" && deliver.deliveryTag == 1 && deliver.routingKey == "work")
        #expect(frames.last?.body == "hello")
        try send(.basic(.ack(deliveryTag: 1, multiple: false)), channel: 1)
        try send(.queue(.declare(AMQPQueueDeclare(queue: "work", passive: true))), channel: 1)
        #expect(
            try received().map(\.method) == [
                .queue(.declareOk(AMQPQueueDeclareOk(queue: "work", messageCount: 0, consumerCount: 1)))
            ])
    }

    @Test func aChannelErrorClosesOnlyThatChannel() throws {
        try open()
        try send(.channel(.open), channel: 2)
        _ = try received()
        try send(.queue(.declare(AMQPQueueDeclare(queue: "missing", passive: true))), channel: 2)
        guard case .channel(.close(let close))? = try received().first?.method else {
            Issue.record("expected channel.close")
            return
        }
        #expect(close.replyCode == 404 && close.replyText == "NOT_FOUND - no queue 'missing' in vhost '/'")
        #expect(close.classID == 50 && close.methodID == 10)
        // Frames on the closing channel are dropped until close-ok; channel 1 goes on.
        try send(.queue(.declare(AMQPQueueDeclare(queue: "x"))), channel: 2)
        #expect(try received().isEmpty)
        try send(.channel(.closeOk), channel: 2)
        try send(.queue(.declare(AMQPQueueDeclare(queue: "x"))), channel: 1)
        #expect(try received().count == 1)
    }

    @Test func confirmsAckEveryPublishInOrder() throws {
        try open()
        try send(.confirm(.select(noWait: false)), channel: 1)
        try send(.queue(.declare(AMQPQueueDeclare(queue: "q"))), channel: 1)
        _ = try received()
        for index in 0..<3 { try sendContent(AMQPBasicPublish(exchange: "", routingKey: "q"), body: "\(index)") }
        try sendContent(AMQPBasicPublish(exchange: "amq.direct", routingKey: "nobody", mandatory: true), body: "lost")
        let frames = try received()
        let acks = frames.compactMap { frame -> UInt64? in
            if case .basic(.ack(let tag, false))? = frame.method { return tag }
            return nil
        }
        #expect(acks == [1, 2, 3, 4])
        #expect(
            frames.contains {
                $0.method
                    == .basic(
                        .return(
                            AMQPBasicReturn(
                                replyCode: 312, replyText: "NO_ROUTE", exchange: "amq.direct", routingKey: "nobody")))
            })
    }

    @Test func publishersAreBlockedWhileTheStoreIsBehind() throws {
        try open(capabilities: ["connection.blocked": .boolean(true)])
        try send(.queue(.declare(AMQPQueueDeclare(queue: "q"))), channel: 1)
        try sendContent(AMQPBasicPublish(exchange: "", routingKey: "q"), body: "x")
        _ = try received()
        services.blocked.store(true, ordering: .relaxed)
        handler.keepAliveTick(now: harness.loop.now)
        #expect(try received().map(\.method) == [.connection(.blocked(reason: AMQPServices.blockedReason))])
        handler.keepAliveTick(now: harness.loop.now)
        #expect(try received().isEmpty, "told once")
        services.blocked.store(false, ordering: .relaxed)
        handler.keepAliveTick(now: harness.loop.now)
        #expect(try received().map(\.method) == [.connection(.unblocked)])
    }

    @Test func aClientWithoutTheCapabilityIsNotToldItIsBlocked() throws {
        try open()
        try send(.queue(.declare(AMQPQueueDeclare(queue: "q"))), channel: 1)
        try sendContent(AMQPBasicPublish(exchange: "", routingKey: "q"), body: "x")
        _ = try received()
        services.blocked.store(true, ordering: .relaxed)
        handler.keepAliveTick(now: harness.loop.now)
        #expect(try received().isEmpty)
    }

    @Test func aRefusedLoginClosesWith403() throws {
        let refusing = try AMQPConnectionHandlerTests(anonymous: false)
        var header = ByteBuffer()
        AMQPProtocolHeader.write(to: &header)
        try refusing.channel.receiveRead(header)
        _ = try refusing.received()
        try refusing.send(
            .connection(
                .startOk(
                    AMQPConnectionStartOk(
                        clientProperties: [:], mechanism: "PLAIN",
                        response: AMQPSASL.plainResponse(username: "guest", password: "guest"), locale: "en_US"))))
        guard case .connection(.close(let close))? = try refusing.received().first?.method else {
            Issue.record("expected connection.close")
            return
        }
        #expect(close.replyCode == 403 && close.replyText.hasPrefix("ACCESS_REFUSED - Login was refused"))
    }

    @Test func aWrongProtocolHeaderIsAnsweredWithOursAndClosed() throws {
        try channel.receiveRead(ByteBuffer(bytes: Array("AMQP".utf8) + [1, 1, 0, 10]))
        var written = ByteBuffer()
        for var buffer in try channel.writtenBuffers() { written.writeBuffer(&buffer) }
        #expect(Array(written.readableBytesView) == AMQPProtocolHeader.supportedBytes)
    }
}
