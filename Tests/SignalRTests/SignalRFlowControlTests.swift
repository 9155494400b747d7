import BusCore
import BusRuntime
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOWebSocket
import SwitchboardTestSupport
import Testing

@testable import SignalRFrontend

/// Publisher flow control on the WebSocket transport (docs/concurrency.md, "Publisher flow control"): a
/// connection whose socket is over its high water mark is written to all the same and pauses the publishers
/// feeding it until it drains, past its slack it gets `limits.slow_consumer`; a connection a subscriber
/// paused stops reading its WebSocket.
@Suite struct SignalRFlowControlTests {
    final class Publisher: ConnectionController {
        let pauses = NIOLockedValueBox<[Bool]>([])
        func requestClose(_ reason: CloseReason) {}
        func publishingPaused(_ paused: Bool, by subscriberID: String) { pauses.withLockedValue { $0.append(paused) } }
        var said: [Bool] { pauses.withLockedValue { $0 } }
    }

    let harness = EmbeddedBusHarness()
    let channel: EmbeddedChannel
    let handler: SignalRConnectionHandler
    let publisher = Publisher()
    let mask = WebSocketMaskingKey([1, 2, 3, 4])!

    init() throws {
        var configuration = SignalRConfiguration()
        configuration.congestionBounds = CongestedSubscriber.Bounds(deadline: 10_000_000_000, slack: 100)
        let services = SignalRServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]))
        channel = try harness.connectedChannel([])
        handler = SignalRConnectionHandler(services: services, connectionID: nil, credentials: ClientCredentials())
        try channel.pipeline.syncOperations.addHandler(WebSocketClientFrameValidator(maxMessageBytes: 64 * 1024))
        try channel.pipeline.syncOperations.addHandler(handler)
        #expect(
            harness.connections.register(
                ConnectionInfo(id: "pub", protocolName: "nats", remoteAddress: nil, connectedAt: 0),
                controller: publisher))
        try send("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        try send(#"{"type":1,"invocationId":"1","target":"subscribe","arguments":["chat/a"]}"# + "\u{1e}")
        _ = try channel.writtenBuffers()
    }

    func send(_ text: String) throws {
        var masked = ByteBuffer(string: text)
        masked.webSocketMask(mask)
        try channel.receiveRead(WebSocketFrame(fin: true, opcode: .text, maskKey: mask, data: masked))
        channel.pipeline.fireChannelReadComplete()
    }

    func setWritable(_ writable: Bool) {
        channel.isWritable = writable
        channel.pipeline.fireChannelWritabilityChanged()
    }

    /// `bytes` bytes from `pub`, `later` ns after the bus clock's now (a later one counts against the slack).
    func publish(_ bytes: Int, later: UInt64 = 0) {
        let message = BusMessage(
            topic: Topic(trusted: "chat/a"), payload: ByteBuffer(repeating: UInt8(ascii: "1"), count: bytes),
            publisherID: "pub", timestamp: harness.bus.clock() + later)
        harness.bus.publish(message, on: channel.embeddedEventLoop)
        channel.embeddedEventLoop.run()
    }

    func delivered() throws -> Int {
        try channel.writtenBuffers().map { String(buffer: $0) }.joined()
            .split(separator: #""target":"Receive""#, omittingEmptySubsequences: false).count - 1
    }

    @Test func behindItIsWrittenToAndPausesItsPublisherThenDropsPastItsSlack() throws {
        setWritable(false)
        publish(10)
        #expect(try delivered() == 1)
        #expect(publisher.said == [true])
        publish(60, later: 1_000_000_000)
        publish(60, later: 1_000_000_000)  // past the slack (100 bytes): dropped, the publisher let go
        #expect(try delivered() == 1)
        #expect(publisher.said == [true, false])
        #expect(channel.isActive)
        setWritable(true)
        publish(10)
        #expect(try delivered() == 1)
    }

    @Test func drainingReleasesThePausedPublisher() throws {
        setWritable(false)
        publish(10)
        setWritable(true)
        #expect(publisher.said == [true, false])
    }

    static func autoRead(_ channel: EmbeddedChannel) -> Bool? {
        channel.options.last { $0.option is ChannelOptions.Types.AutoReadOption }?.value as? Bool
    }

    @Test func aPausedPublisherStopsReadingItsWebSocket() throws {
        handler.publishingPaused(true, by: "s")
        channel.embeddedEventLoop.run()
        #expect(Self.autoRead(channel) == false)
        handler.publishingPaused(false, by: "s")
        channel.embeddedEventLoop.run()
        #expect(Self.autoRead(channel) == true)
    }
}
