import BusCore
import BusRuntime
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import SwitchboardTestSupport
import Testing

@testable import SSEFrontend

/// The SSE routes behind `HTTPServerHandler` on an EmbeddedChannel (bytes out through NIO's response
/// encoder), the bus on the same embedded loop, time driven by the loop's virtual clock.
@Suite struct SSEHandlerTests {
    let harness: EmbeddedBusHarness
    let channel: EmbeddedChannel
    let services: SSEServices
    var bus: Bus { harness.bus }
    var connections: ConnectionRegistry { harness.connections }

    init() throws {
        // A fixed "random" source makes epochs and client ids golden: 42 → "16" in base 36.
        harness = EmbeddedBusHarness(
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 10))
                ])
            ),
            clock: { 1_000_000_000 }, random: { 42 })
        var configuration = SSEConfiguration()
        configuration.keepAliveSeconds = 5
        configuration.retryMilliseconds = 1000
        configuration.congestionBounds = CongestedSubscriber.Bounds(deadline: 10_000_000_000, slack: 4)
        services = SSEServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]))
        var router = HTTPRouter.Builder()
        SSERoutes(services: services).register(into: &router)
        channel = try harness.connectedChannel([
            HTTPResponseEncoder(), HTTPServerHandler(router: router.build(), maxBodyBytes: 1024),
        ])
    }

    func request(_ uri: String, headers: [(String, String)] = []) throws {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: HTTPHeaders(headers))
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        channel.embeddedEventLoop.run()
    }

    /// Everything written since the last call.
    func output() throws -> String {
        String(buffer: try channel.writtenBytes())
    }

    func publish(_ topic: String, _ payload: String, type: String? = nil) {
        bus.publish(
            BusMessage(
                topic: Topic(trusted: topic), payload: ByteBuffer(string: payload),
                headers: MessageHeaders(eventType: type), timestamp: 0),
            on: channel.embeddedEventLoop)
        channel.embeddedEventLoop.run()
    }

    @Test func streamOpensWithHeadRetryAndPositionThenDelivers() throws {
        try request("/sse?channel=chat/a")
        let opening = try output()
        #expect(opening.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(opening.contains("Content-Type: text/event-stream; charset=utf-8\r\n"))
        #expect(opening.lowercased().contains("transfer-encoding: chunked\r\n"))
        #expect(opening.hasSuffix("\r\n\r\n16\r\nretry: 1000\nid: 16-0\n\n\r\n"))
        publish("chat/a", "{\"n\":1}", type: "t.x")
        #expect(try output() == "23\r\nid: 16-1\nevent: t.x\ndata: {\"n\":1}\n\n\r\n")
        #expect(connections.list().map(\.protocolName) == ["sse"])
    }

    @Test func keepAliveCommentAfterSilence() throws {
        try request("/sse?channel=chat/a")
        _ = try output()
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(try output() == "")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try output() == "e\r\n: keep-alive\n\n\r\n")
    }

    @Test func adminCloseEndsTheBodyAndCleansUp() throws {
        try request("/sse?channel=chat/a")
        _ = try output()
        let id = try #require(connections.list().first?.id)
        #expect(connections.close(id, reason: .administrative))
        channel.embeddedEventLoop.run()
        #expect(try output() == "0\r\n\r\n")  // the last chunk: a clean end, EventSource reconnects
        #expect(!channel.isActive)
        #expect(connections.count == 0)
        #expect(bus.registry.channelCounts()["chat/a"] == nil)
    }

    @Test func clientGoneUnsubscribes() throws {
        try request("/sse?channel=chat/a&channel=chat/b")
        #expect(bus.registry.channelCounts()["chat/b"] == 1)
        _ = try channel.close()
        channel.embeddedEventLoop.run()
        #expect(bus.registry.channelCounts()["chat/a"] == nil)
        #expect(connections.count == 0)
    }

    @Test func resumeReplaysThenGoesLive() throws {
        publish("chat/a", "1")
        publish("chat/a", "2")
        publish("chat/a", "3")
        try request("/sse?channel=chat/a", headers: [("Last-Event-ID", "16-1")])
        let text = try output()
        #expect(text.contains("id: 16-2\nevent: message\ndata: 2\n\nid: 16-3\nevent: message\ndata: 3\n\n"))
        #expect(!text.contains("data: 1\n"))
        publish("chat/a", "4")
        #expect(try output().contains("id: 16-4\nevent: message\ndata: 4\n\n"))
    }

    @Test func badLastEventIDIs400() throws {
        try request("/sse?channel=chat/a", headers: [("Last-Event-ID", "nope")])
        let text = try output()
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(
            text.hasSuffix(
                "{\"error\":{\"code\":\"bad_request\",\"message\":\"bad Last-Event-ID: cursor entry \\\"nope\\\" is not EPOCH-OFFSET\"}}"
            ))
    }

    @Test func heldPollIsAnsweredByADelivery() throws {
        try request("/poll?channel=chat/p&timeout=10")
        #expect(try output() == "")
        publish("chat/p", "\"hi\"")
        let text = try output()
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.contains("ETag: \"16-1\"\r\n"))
        #expect(
            text.hasSuffix(
                "{\"messages\":[{\"channel\":\"chat/p\",\"event\":\"message\",\"data\":\"hi\",\"offset\":1,\"epoch\":\"16\"}],\"cursor\":\"16-1\"}"
            ))
        #expect(bus.registry.channelCounts()["chat/p"] == nil)
    }

    @Test func heldPollTimesOutWith204() throws {
        try request("/poll?channel=chat/p&timeout=3")
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        let text = try output()
        #expect(text.hasPrefix("HTTP/1.1 204 No Content\r\n"))
        #expect(text.contains("ETag: \"16-0\"\r\n"))
        #expect(connections.count == 0)
    }
}

/// Publisher flow control (docs/concurrency.md, "Publisher flow control"): a stream whose connection is over
/// its high water mark is written to all the same and pauses the publishers feeding it until it drains;
/// past its slack it gets the slow-consumer policy.
extension SSEHandlerTests {
    final class Publisher: ConnectionController {
        let pauses = NIOLockedValueBox<[Bool]>([])
        func requestClose(_ reason: CloseReason) {}
        func publishingPaused(_ paused: Bool, by subscriberID: String) { pauses.withLockedValue { $0.append(paused) } }
        var said: [Bool] { pauses.withLockedValue { $0 } }
    }

    /// A publisher `pub`, registered as another protocol's connection would be.
    func registeredPublisher() -> Publisher {
        let publisher = Publisher()
        #expect(
            connections.register(
                ConnectionInfo(id: "pub", protocolName: "nats", remoteAddress: nil, connectedAt: 0),
                controller: publisher))
        return publisher
    }

    /// `payload` on `topic` from `pub`, published after the stream fell behind (the bus clock stands still
    /// here: a later timestamp counts against the slack).
    func publishLater(_ topic: String, _ payload: String) {
        bus.publish(
            BusMessage(
                topic: Topic(trusted: topic), payload: ByteBuffer(string: payload), publisherID: "pub",
                timestamp: 2_000_000_000),
            on: channel.embeddedEventLoop)
        channel.embeddedEventLoop.run()
    }

    func setWritable(_ writable: Bool) {
        channel.isWritable = writable
        channel.pipeline.fireChannelWritabilityChanged()
    }

    @Test func aStreamBehindIsWrittenToAndPausesItsPublisherUntilItDrains() throws {
        let publisher = registeredPublisher()
        try request("/sse?channel=chat/a")
        _ = try output()
        setWritable(false)
        publishLater("chat/a", "1")
        #expect(try output().contains("data: 1\n"))
        #expect(publisher.said == [true])
        setWritable(true)
        #expect(publisher.said == [true, false])
    }

    @Test func slowStreamWithAPositionEndsPastItsSlackSoItsClientRecovers() throws {
        let publisher = registeredPublisher()
        try request("/sse?channel=chat/a")
        _ = try output()
        setWritable(false)
        publishLater("chat/a", "1")  // within the slack (4 bytes here)
        publishLater("chat/a", "2345")
        #expect(try output().hasSuffix("0\r\n\r\n"))
        #expect(!channel.isActive)
        #expect(publisher.said == [true, false])
    }

    @Test func slowStreamWithoutAPositionDropsPastItsSlackUnderTheDropPolicy() throws {
        let publisher = registeredPublisher()
        try request("/sse?channel=chat/%2B")
        _ = try output()
        setWritable(false)
        publishLater("chat/a", "1")
        publishLater("chat/a", "2345")
        let written = try output()
        #expect(written.contains("data: 1\n") && !written.contains("data: 2345\n"))
        #expect(channel.isActive)
        #expect(publisher.said == [true, false])  // given up: its publisher goes on
        setWritable(true)
        publish("chat/a", "6")
        #expect(try output().contains("data: 6\n"))
    }
}
