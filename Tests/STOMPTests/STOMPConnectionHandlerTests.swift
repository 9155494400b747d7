import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import STOMPWire
import SwitchboardTestSupport
import Testing

@testable import STOMPFrontend

/// The STOMP connection handler on an EmbeddedChannel: frames in, frames out, the bus and the broker's
/// queues on the same embedded loop. The client side is written with the codec itself.
@Suite struct STOMPConnectionHandlerTests {
    let harness: EmbeddedBusHarness
    let services: STOMPServices
    let broker: QueueBroker

    init(anonymous: Bool = true, bus busConfiguration: BusConfiguration = BusConfiguration()) {
        harness = EmbeddedBusHarness(configuration: busConfiguration)
        broker = QueueBroker(bus: harness.bus, metricsSlot: harness.bus.metrics.slot(for: "queues"))
        services = STOMPServices(
            configuration: STOMPConfiguration(), bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: anonymous, tokens: ["eyJ.a.b": "alice"]),
            broker: broker)
    }

    final class Client {
        let channel: EmbeddedChannel
        let handler: STOMPConnectionHandler
        var unread = ByteBuffer()

        init(_ test: STOMPConnectionHandlerTests) throws {
            handler = STOMPConnectionHandler(services: test.services)
            channel = try test.harness.connectedChannel([handler])
        }

        func send(_ command: STOMPCommand, _ headers: [(String, String)] = [], body: String = "") throws {
            var out = ByteBuffer()
            STOMPFrameEncoder.write(
                STOMPFrame(command, headers: STOMPHeaders(headers), body: body), escaping: .v1_2, to: &out)
            try channel.receiveRead(out)
        }

        func sendRaw(_ text: String) throws {
            try channel.receiveRead(ByteBuffer(string: text))
        }

        /// Every frame written since the last call.
        func received() throws -> [STOMPFrame] {
            var bytes = try channel.writtenBytes()
            unread.writeBuffer(&bytes)
            var frames: [STOMPFrame] = []
            while true {
                STOMPFrameDecoder.skipHeartBeats(&unread)
                guard let frame = try STOMPFrameDecoder.decode(&unread, escaping: .v1_2, limits: STOMPLimits())
                else { break }
                frames.append(frame)
            }
            return frames
        }

        func connect(_ headers: [(String, String)] = [("accept-version", "1.2"), ("host", "/")]) throws -> STOMPFrame? {
            try send(.connect, headers)
            return try received().first
        }
    }

    @Test func connectNegotiatesTheVersion() throws {
        let client = try Client(self)
        let connected = try #require(try client.connect([("accept-version", "1.0,1.1"), ("heart-beat", "0,0")]))
        #expect(connected.command == .connected)
        #expect(connected.headers["version"] == "1.1")
        #expect(connected.headers["heart-beat"] == "0,0")
        #expect(connected.headers["session"] != nil)
    }

    @Test func topicSubscriptionGetsSends() throws {
        let client = try Client(self)
        _ = try client.connect()
        try client.send(.subscribe, [("id", "0"), ("destination", "/topic/sensors.*"), ("receipt", "sub")])
        #expect(try client.received().map(\.command) == [.receipt])
        try client.send(
            .send, [("destination", "/topic/sensors.x"), ("content-type", "text/plain"), ("k", "a:b")], body: "21.5")
        let message = try #require(try client.received().first)
        #expect(message.command == .message)
        #expect(message.headers["subscription"] == "0")
        #expect(message.headers["destination"] == "/topic/sensors.x")
        #expect(message.headers["content-type"] == "text/plain")
        #expect(message.headers["k"] == "a:b")
        #expect(message.headers["message-id"] != nil)
        #expect(message.headers["ack"] == nil, "automatic acks: nothing to acknowledge")
        #expect(String(buffer: message.body) == "21.5")
    }

    @Test func busPublishesReachTopicSubscribers() throws {
        let client = try Client(self)
        _ = try client.connect()
        try client.send(.subscribe, [("id", "0"), ("destination", "/topic/a.b")])
        harness.bus.publish(
            BusMessage(topic: Topic(trusted: "a/b"), payload: ByteBuffer(string: "x"), timestamp: 1), on: harness.loop)
        harness.loop.run()
        let frames = try client.received()
        #expect(frames.map(\.command) == [.message])
        #expect(frames.first?.headers["destination"] == "/topic/a.b")
    }

    @Test func clientIndividualAcksAndNackRedelivers() throws {
        let client = try Client(self)
        _ = try client.connect()
        try client.send(.subscribe, [("id", "w"), ("destination", "/queue/jobs"), ("ack", "client-individual")])
        for index in 0..<2 { try client.send(.send, [("destination", "/queue/jobs")], body: "job\(index)") }
        let first = try client.received()
        #expect(first.map { String(buffer: $0.body) } == ["job0", "job1"])
        let acks = first.compactMap { $0.headers["ack"] }
        #expect(acks.count == 2)
        try client.send(.nack, [("id", acks[1])])
        let again = try client.received()
        #expect(again.map { String(buffer: $0.body) } == ["job1"])
        #expect(again.first?.headers["redelivered"] == "true")
        try client.send(.ack, [("id", acks[0])])
        try client.send(.ack, [("id", try #require(again.first?.headers["ack"]))])
        let host = try broker.queue("jobs", owner: "")
        #expect(host.readyCount == 0)
        #expect(host.unackedCount == 0)
    }

    @Test func clientModeAckIsCumulativeAndPrefetchHoldsTheRest() throws {
        let client = try Client(self)
        _ = try client.connect()
        try client.send(
            .subscribe, [("id", "w"), ("destination", "/queue/work"), ("ack", "client"), ("prefetch-count", "2")])
        for index in 0..<5 { try client.send(.send, [("destination", "/queue/work")], body: "\(index)") }
        let window = try client.received()
        #expect(window.map { String(buffer: $0.body) } == ["0", "1"], "two unacknowledged at most")
        try client.send(.ack, [("id", try #require(window.last?.headers["ack"]))])
        #expect(try client.received().map { String(buffer: $0.body) } == ["2", "3"])
    }

    @Test func transactionsApplyOnCommitOnly() throws {
        let client = try Client(self)
        _ = try client.connect()
        try client.send(.subscribe, [("id", "0"), ("destination", "/topic/t")])
        try client.send(.begin, [("transaction", "tx1")])
        try client.send(.send, [("destination", "/topic/t"), ("transaction", "tx1")], body: "inside")
        #expect(try client.received().isEmpty, "nothing before COMMIT")
        try client.send(.commit, [("transaction", "tx1"), ("receipt", "c")])
        #expect(try client.received().map(\.command) == [.message, .receipt])
        try client.send(.begin, [("transaction", "tx2")])
        try client.send(.send, [("destination", "/topic/t"), ("transaction", "tx2")], body: "dropped")
        try client.send(.abort, [("transaction", "tx2")])
        #expect(try client.received().isEmpty)
        try client.send(.commit, [("transaction", "tx2")])
        let error = try #require(try client.received().first)
        #expect(error.command == .error)
        #expect(error.headers["message"] == "Bad transaction")
    }

    @Test func malformedFrameGetsErrorWithReceiptIDThenClose() throws {
        let client = try Client(self)
        _ = try client.connect()
        try client.send(.send, [("receipt", "r9")])
        let error = try #require(try client.received().first)
        #expect(error.command == .error)
        #expect(error.headers["message"] == "Missing 'destination' header")
        #expect(error.headers["receipt-id"] == "r9")
        harness.loop.run()
        #expect(!client.channel.isActive)
    }

    @Test func garbageGetsErrorAndOtherSessionsGoOn() throws {
        let bad = try Client(self)
        let good = try Client(self)
        _ = try good.connect()
        try good.send(.subscribe, [("id", "0"), ("destination", "/topic/x")])
        _ = try bad.connect()
        try bad.sendRaw("NOT A COMMAND\n\n\0")
        #expect(try bad.received().first?.command == .error)
        try good.send(.send, [("destination", "/topic/x")], body: "still here")
        #expect(try good.received().map(\.command) == [.message])
    }

    @Test func unknownDestinationIsAnError() throws {
        let client = try Client(self)
        _ = try client.connect()
        try client.send(.subscribe, [("id", "0"), ("destination", "/nowhere/x")])
        #expect(try client.received().first?.headers["message"] == "Unknown destination")
    }

    @Test func missingQueueUnderAmqQueueIsNotFound() throws {
        let client = try Client(self)
        _ = try client.connect()
        try client.send(.subscribe, [("id", "0"), ("destination", "/amq/queue/none")])
        #expect(try client.received().first?.headers["message"] == "not_found")
    }

    @Test func temporaryQueueRepliesComeBack() throws {
        let requester = try Client(self)
        let replier = try Client(self)
        _ = try requester.connect()
        _ = try replier.connect()
        try replier.send(.subscribe, [("id", "0"), ("destination", "/queue/service")])
        try requester.send(.send, [("destination", "/queue/service"), ("reply-to", "/temp-queue/answers")], body: "q")
        let request = try #require(try replier.received().first)
        let replyTo = try #require(request.headers["reply-to"])
        #expect(replyTo.hasPrefix("/reply-queue/"))
        try replier.send(.send, [("destination", replyTo)], body: "a")
        let reply = try #require(try requester.received().first)
        #expect(reply.headers["subscription"] == "/temp-queue/answers")
        #expect(String(buffer: reply.body) == "a")
    }

    @Test func durableTopicSubscriptionKeepsMessagesWhileAway() throws {
        let first = try Client(self)
        _ = try first.connect()
        try first.send(
            .subscribe, [("id", "d1"), ("destination", "/topic/news"), ("durable", "true"), ("ack", "client")])
        try first.channel.close().wait()
        let publisher = try Client(self)
        _ = try publisher.connect()
        try publisher.send(.send, [("destination", "/topic/news")], body: "while away")
        let second = try Client(self)
        _ = try second.connect()
        try second.send(
            .subscribe, [("id", "d1"), ("destination", "/topic/news"), ("durable", "true"), ("ack", "client")])
        let message = try #require(try second.received().first)
        #expect(String(buffer: message.body) == "while away")
        #expect(message.headers["destination"] == "/topic/news")
    }

    @Test func refusedLoginAndTokenPasscode() throws {
        let test = STOMPConnectionHandlerTests(anonymous: false)
        let refused = try Client(test)
        let error = try #require(
            try refused.connect([("accept-version", "1.2"), ("login", "x"), ("passcode", "nope")]))
        #expect(error.command == .error)
        #expect(error.headers["message"] == "Access refused")
        let token = try Client(test)
        let connected = try #require(
            try token.connect([("accept-version", "1.2"), ("login", "alice"), ("passcode", "eyJ.a.b")]))
        #expect(connected.command == .connected)
    }

    @Test func heartBeatsGoOutAndSilentClientsAreDropped() throws {
        let client = try Client(self)
        _ = try client.connect([("accept-version", "1.2"), ("heart-beat", "1000,1000")])
        harness.loop.advanceTime(by: .milliseconds(800))
        client.handler.keepAliveTick(now: harness.loop.now)
        var beat = try client.channel.writtenBytes()
        #expect(beat.readString(length: beat.readableBytes) == "\n")
        harness.loop.advanceTime(by: .milliseconds(1300))
        client.handler.keepAliveTick(now: harness.loop.now)
        harness.loop.run()
        #expect(!client.channel.isActive, "2.1 s without a byte from a client that promised one a second")
    }
}
