import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOWebSocket
import SocketIOWire
import SwitchboardTestSupport
import Testing

@testable import SocketIOFrontend

/// Sessions on an EmbeddedChannel (the WebSocket transport) and through the router (polling), with the
/// bus on the same embedded loop and time driven by the test.
@Suite struct SocketIOSessionTests {
    let harness: EmbeddedBusHarness
    let services: SocketIOServices
    var bus: Bus { harness.bus }

    init() throws {
        harness = EmbeddedBusHarness(
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 10))
                ])))
        var configuration = SocketIOConfiguration()
        configuration.pingIntervalMilliseconds = 300
        configuration.pingTimeoutMilliseconds = 200
        configuration.connectTimeoutMilliseconds = 1_000
        services = SocketIOServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: ["t": "alice"]))
    }

    // MARK: - WebSocket

    final class Client {
        let channel: EmbeddedChannel
        let mask = WebSocketMaskingKey([1, 2, 3, 4])!

        init(_ test: SocketIOSessionTests) throws {
            channel = try test.harness.connectedChannel([])
            try channel.pipeline.syncOperations.addHandler(
                SocketIOWebSocketHandler(
                    services: test.services, sessionID: nil, echoesEngineIO: false, credentials: ClientCredentials()))
        }

        func send(_ text: String, opcode: WebSocketOpcode = .text) throws {
            var masked = ByteBuffer(string: text)
            masked.webSocketMask(mask)
            try channel.receiveRead(WebSocketFrame(fin: true, opcode: opcode, maskKey: mask, data: masked))
        }

        /// Every frame written since the last call, as (opcode, payload).
        func frames() throws -> [(UInt8, ByteBuffer)] {
            var frames: [(UInt8, ByteBuffer)] = []
            for var buffer in try channel.writtenBuffers() {
                while buffer.readableBytes > 0 {
                    let first = buffer.readInteger(as: UInt8.self)!
                    var length = Int(buffer.readInteger(as: UInt8.self)! & 0x7F)
                    if length == 126 { length = Int(buffer.readInteger(as: UInt16.self)!) }
                    frames.append((first & 0x0F, buffer.readSlice(length: length)!))
                }
            }
            return frames
        }

        func texts() throws -> [String] {
            try frames().filter { $0.0 == 1 }.map { String(buffer: $0.1) }
        }
    }

    @Test func handshakeConnectSubscribeDeliverOverWebSocket() throws {
        let client = try Client(self)
        let open = try client.texts()
        #expect(open.count == 1 && open[0].hasPrefix("0{\"sid\":") && open[0].contains("\"upgrades\":[]"))
        #expect(open[0].contains("\"pingInterval\":300,\"pingTimeout\":200,\"maxPayload\":1000000"))
        try client.send("40")
        let connected = try client.texts()
        #expect(connected.count == 1 && connected[0].hasPrefix("40{\"sid\":") && connected[0].contains("\"pid\":"))
        try client.send("421[\"subscribe\",{\"channel\":\"chat/a\"}]")
        let subscribed = try client.texts()
        #expect(
            subscribed == [
                "431[{\"channel\":\"chat/a\",\"offset\":0,\"epoch\":\"\(position("chat/a").epoch)\",\"messages\":[]}]"
            ])
        bus.shards[0].publish(
            BusMessage(topic: try Topic("chat/a"), payload: ByteBuffer(string: "{\"n\":1}"), timestamp: 1))
        harness.loop.run()
        let pushed = try client.texts()
        #expect(pushed.count == 1)
        #expect(
            pushed[0].hasPrefix(
                "42[\"message\",{\"type\":\"message\",\"channel\":\"chat/a\",\"data\":{\"n\":1},\"offset\":1,"))
        #expect(pushed[0].hasSuffix(",\"1:chat/a\"]"))
    }

    /// A socket that ended on a WebSocket session while a delivery batch was under way (it unsubscribes,
    /// but the batch already holds it): the delivery goes nowhere and is not counted as delivered.
    @Test func aDeliveryToASocketThatEndedMidBatchIsNotCounted() throws {
        let client = try Client(self)
        let open = try client.texts()[0]
        let sid = String(open.split(separator: "\"")[3])
        try client.send("40")
        try client.send("421[\"subscribe\",{\"channel\":\"chat/b\"}]")
        _ = try client.texts()
        let session = try #require(services.registry.session(sid))
        let socket = try #require(session.sockets.compactMap { $0 }.first)
        let subscription = bus.subscribe(try TopicFilter("chat/b"), subscriber: socket, subscriberID: "t").subscription
        try client.send("41")  // the socket ends; the session stays on its WebSocket
        _ = try client.texts()
        #expect(socket.webSocket == nil)
        let message = BusMessage(topic: try Topic("chat/b"), payload: ByteBuffer(string: "{}"), timestamp: 1)
        var context = DeliveryContext(message: message)
        guard case .skipped = socket.deliver(message, for: subscription, context: &context) else {
            Issue.record("an undelivered message was counted")
            return
        }
        bus.unsubscribe(subscription)
        #expect(try client.texts().isEmpty)
    }

    private func position(_ channel: String) -> LogPosition {
        bus.readHistory(try! Topic(channel), after: nil, limit: 1)!.position
    }

    @Test func heartbeatPingsThenClosesWithoutPong() throws {
        let client = try Client(self)
        _ = try client.frames()
        harness.loop.advanceTime(by: .milliseconds(300))
        #expect(try client.texts() == ["2"])
        try client.send("3")
        harness.loop.advanceTime(by: .milliseconds(300))
        #expect(try client.texts() == ["2"])
        harness.loop.advanceTime(by: .milliseconds(200))
        #expect(try client.frames().contains { $0.0 == 0x8 }, "a close frame after the missed pong")
        #expect(services.registry.count == 0)
    }

    @Test func noNamespaceWithinTheConnectTimeoutCloses() throws {
        let client = try Client(self)
        // Pings are answered, but no CONNECT comes.
        for _ in 0..<3 {
            harness.loop.advanceTime(by: .milliseconds(300))
            try client.send("3")
        }
        harness.loop.advanceTime(by: .milliseconds(99))
        #expect(services.registry.count == 1)
        harness.loop.advanceTime(by: .milliseconds(1))
        #expect(services.registry.count == 0)
    }

    @Test func malformedPacketClosesTheSessionAndCleansUp() throws {
        let client = try Client(self)
        try client.send("40")
        try client.send("421[\"subscribe\",\"chat/b\"]")
        #expect(bus.registry.count == 1)
        try client.send("42{}")
        #expect(services.registry.count == 0)
        #expect(bus.registry.count == 0)
        #expect(harness.connections.count == 0)
    }

    @Test func binaryAttachmentsArePublishedAsBytes() throws {
        let client = try Client(self)
        try client.send("40")
        try client.send("421[\"subscribe\",\"chat/c\"]")
        _ = try client.frames()
        try client.send("451-2[\"publish\",{\"channel\":\"chat/c\",\"data\":{\"_placeholder\":true,\"num\":0}}]")
        try client.send("\u{1}\u{2}\u{3}", opcode: .binary)
        let frames = try client.frames()
        // The delivery (text + attachment) and the ack.
        #expect(frames.map(\.0) == [1, 2, 1])
        #expect(
            String(buffer: frames[0].1).hasPrefix(
                "451-[\"message\",{\"type\":\"message\",\"channel\":\"chat/c\",\"data\":{\"_placeholder\":true,\"num\":0}"
            ))
        #expect(Array(frames[1].1.readableBytesView) == [1, 2, 3])
        #expect(String(buffer: frames[2].1).hasPrefix("432[{\"channel\":\"chat/c\",\"offset\":1"))
    }

    // MARK: - Polling

    private func request(_ method: HTTPMethod, _ query: String, body: String = "") throws -> HTTPResponse {
        var router = HTTPRouter.Builder()
        SocketIORoutes.register(into: &router, path: "/socket.io/", services: services, echoesEngineIO: false)
        let head = HTTPRequestHead(
            version: .http1_1, method: method, uri: "/socket.io/?EIO=4&transport=polling" + query)
        let future = router.build().respond(
            to: HTTPRequest(head: head, body: ByteBuffer(string: body), remoteAddress: nil), on: harness.loop)
        harness.loop.run()
        return try future.wait()
    }

    @Test func pollingSessionAnswersPollsWithQueuedPackets() throws {
        let open = try request(.GET, "")
        let text = String(buffer: open.body)
        #expect(open.status == .ok && text.hasPrefix("0{\"sid\":") && text.contains("\"upgrades\":[\"websocket\"]"))
        let sid = String(text.split(separator: "\"")[3])
        #expect(
            String(buffer: try request(.POST, "&sid=\(sid)", body: "40\u{1e}421[\"subscribe\",\"chat/p\"]").body)
                == "ok")
        let answers = String(buffer: try request(.GET, "&sid=\(sid)").body).split(separator: "\u{1e}")
        #expect(
            answers.count == 2 && answers[0].hasPrefix("40{\"sid\":")
                && answers[1].hasPrefix("431[{\"channel\":\"chat/p\""))
        #expect(try request(.GET, "&sid=unknown").status == .badRequest)
        #expect(try request(.POST, "&sid=\(sid)", body: "zzz").status == .badRequest)
        #expect(try request(.GET, "&sid=\(sid)").status == .badRequest, "a malformed payload closed the session")
    }
}
