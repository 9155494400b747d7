import BusCore
import BusRuntime
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOWebSocket
import SwitchboardTestSupport
import Testing

@testable import NativeWebSocketFrontend

/// Publisher flow control on `/ws` (docs/concurrency.md, "Publisher flow control"): a subscriber whose socket
/// is over its high water mark is written to all the same and pauses the publishers feeding it until it
/// drains; past its slack or its deadline it gets `limits.slow_consumer`; a publisher a subscriber paused
/// stops reading its socket. The handler on an EmbeddedChannel, the bus on the same loop, a clock the test moves.
@Suite struct NativeWSFlowControlTests {
    final class Publisher: ConnectionController {
        let pauses = NIOLockedValueBox<[Bool]>([])
        func requestClose(_ reason: CloseReason) {}
        func publishingPaused(_ paused: Bool, by subscriberID: String) { pauses.withLockedValue { $0.append(paused) } }
        var said: [Bool] { pauses.withLockedValue { $0 } }
    }

    /// One subscriber connection, and a publisher `pub` registered as another protocol's would be.
    struct Fixture {
        let now = NIOLockedValueBox<UInt64>(1_000_000_000)
        let harness: EmbeddedBusHarness
        let channel: EmbeddedChannel
        let handler: NativeWSConnectionHandler
        let publisher = Publisher()

        init(policy: SlowConsumerPolicy, slack: Int = 100) throws {
            let now = self.now
            harness = EmbeddedBusHarness(clock: { now.withLockedValue { $0 } })
            var configuration = NativeWSConfiguration()
            configuration.slowConsumerPolicy = policy
            configuration.congestionBounds = CongestedSubscriber.Bounds(deadline: 10_000_000_000, slack: slack)
            let services = NativeWSServices(
                shared: FrontendShared(
                    metricsName: "websocket", bus: harness.bus, connections: harness.connections,
                    authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:])),
                configuration: configuration)
            channel = try harness.connectedChannel([])
            handler = NativeWSConnectionHandler(services: services)
            try channel.pipeline.syncOperations.addHandler(WebSocketClientFrameValidator(maxMessageBytes: 1024))
            try channel.pipeline.syncOperations.addHandler(handler)
            #expect(
                harness.connections.register(
                    ConnectionInfo(id: "pub", protocolName: "nats", remoteAddress: nil, connectedAt: 0),
                    controller: publisher))
            var subscribe = ByteBuffer(string: #"{"id":1,"type":"subscribe","channel":"chat/a"}"#)
            let mask = WebSocketMaskingKey([1, 2, 3, 4])!
            subscribe.webSocketMask(mask)
            try channel.receiveRead(WebSocketFrame(fin: true, opcode: .text, maskKey: mask, data: subscribe))
            _ = try channel.writtenBuffers()
        }

        func setWritable(_ writable: Bool) {
            channel.isWritable = writable
            channel.pipeline.fireChannelWritabilityChanged()
        }

        /// A message of `bytes` bytes published by `pub` now.
        func publish(_ bytes: Int) {
            let message = BusMessage(
                topic: Topic(trusted: "chat/a"), payload: ByteBuffer(repeating: UInt8(ascii: "1"), count: bytes),
                publisherID: "pub", timestamp: now.withLockedValue { $0 })
            harness.bus.publish(message, on: channel.embeddedEventLoop)
            channel.embeddedEventLoop.run()
        }

        /// The messages written since the last call.
        func delivered() throws -> Int {
            try channel.writtenBuffers().map { String(buffer: $0) }.joined()
                .split(separator: #""type":"message""#, omittingEmptySubsequences: false).count - 1
        }

        /// The time passes by `seconds` on the bus clock and the loop, one keep-alive tick at a time.
        func wait(seconds: Int) {
            for _ in 0..<(seconds * 4) {
                now.withLockedValue { $0 += 250_000_000 }
                channel.embeddedEventLoop.advanceTime(by: KeepAliveSweeper.tick)
            }
        }

        var closeCode: UInt16? {
            get throws {
                for buffer in try channel.writtenBuffers()
                where buffer.getInteger(at: buffer.readerIndex) == UInt8(0x88) {
                    return buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self)
                }
                return nil
            }
        }
    }

    @Test func aSubscriberBehindIsWrittenToAndPausesItsPublisherUntilItDrains() throws {
        let fixture = try Fixture(policy: .drop)
        fixture.setWritable(false)
        fixture.publish(40)
        fixture.publish(40)
        #expect(try fixture.delivered() == 2)
        #expect(fixture.publisher.said == [true])  // once per episode
        fixture.setWritable(true)
        #expect(fixture.publisher.said == [true, false])
        fixture.publish(40)
        #expect(try fixture.delivered() == 1)
    }

    @Test func pastTheSlackTheDropPolicyDropsUntilItDrainsAndLetsThePublisherGo() throws {
        let fixture = try Fixture(policy: .drop, slack: 100)
        fixture.setWritable(false)
        fixture.publish(60)  // it falls behind: what was published until now is not its publisher's doing
        fixture.now.withLockedValue { $0 += 1 }  // published after it fell behind: they count against the slack
        fixture.publish(60)
        fixture.publish(60)
        fixture.publish(10)  // given up: refused until it drains
        #expect(try fixture.delivered() == 2)
        #expect(fixture.publisher.said == [true, false])
        #expect(fixture.channel.isActive)
        fixture.setWritable(true)
        fixture.publish(60)
        #expect(try fixture.delivered() == 1)
    }

    @Test func pastTheSlackTheDisconnectPolicyClosesWith1008() throws {
        let fixture = try Fixture(policy: .disconnect, slack: 100)
        fixture.setWritable(false)
        fixture.publish(60)
        fixture.now.withLockedValue { $0 += 1 }
        fixture.publish(60)
        fixture.publish(60)
        #expect(try fixture.closeCode == 1008)  // NativeWSServerClose.slowConsumer
        #expect(fixture.publisher.said == [true, false])
    }

    @Test func behindPastTheDeadlineWithoutReadingGetsThePolicy() throws {
        let dropping = try Fixture(policy: .drop)
        dropping.setWritable(false)
        dropping.publish(40)
        dropping.wait(seconds: 9)
        #expect(dropping.publisher.said == [true])  // within the deadline: still paused
        dropping.wait(seconds: 2)
        #expect(dropping.publisher.said == [true, false])
        #expect(dropping.channel.isActive)

        let closing = try Fixture(policy: .disconnect)
        closing.setWritable(false)
        closing.publish(40)
        closing.wait(seconds: 11)
        #expect(try closing.closeCode == 1008)
        #expect(closing.publisher.said == [true, false])
    }

    /// `autoRead` as the handler last set it (EmbeddedChannel records options; it reads regardless).
    static func autoRead(_ channel: EmbeddedChannel) -> Bool? {
        channel.options.last { $0.option is ChannelOptions.Types.AutoReadOption }?.value as? Bool
    }

    @Test func aPublisherStopsReadingWhileAnySubscriberItFeedsIsBehind() throws {
        let fixture = try Fixture(policy: .drop)
        let handler = fixture.handler
        handler.publishingPaused(true, by: "s1")
        handler.publishingPaused(true, by: "s2")
        fixture.channel.embeddedEventLoop.run()
        #expect(Self.autoRead(fixture.channel) == false)
        handler.publishingPaused(false, by: "s1")
        fixture.channel.embeddedEventLoop.run()
        #expect(Self.autoRead(fixture.channel) == false)
        handler.publishingPaused(false, by: "s2")
        fixture.channel.embeddedEventLoop.run()
        #expect(Self.autoRead(fixture.channel) == true)
        // A pause nothing ends lasts at most `PausedPublisher.longestPause`, and the silence of a client that
        // is not read is no missed pong.
        handler.publishingPaused(true, by: "gone")
        fixture.channel.embeddedEventLoop.run()
        fixture.wait(seconds: 61)
        #expect(Self.autoRead(fixture.channel) == true)
        #expect(fixture.channel.isActive)
    }
}
