import BusCore
import BusRuntime
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import NATSFrontend
@testable import NATSWire

/// The handler on an EmbeddedChannel: bytes in, bytes out, the bus on the same embedded loop, the
/// keep-alive driven by the loop's virtual clock.
@Suite struct NATSConnectionHandlerTests {
    let harness: EmbeddedBusHarness
    let channel: EmbeddedChannel
    var bus: Bus { harness.bus }
    var connections: ConnectionRegistry { harness.connections }

    init(
        anonymous: Bool = true, authenticator: (any Authenticator)? = nil,
        bus busConfiguration: BusConfiguration = BusConfiguration()
    ) throws {
        harness = EmbeddedBusHarness(configuration: busConfiguration)
        var configuration = NATSConfiguration()
        configuration.limits.pingIntervalSeconds = 5
        configuration.limits.maxPingsOut = 1
        let services = NATSServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: authenticator ?? StaticTokenAuthenticator(allowsAnonymous: anonymous, tokens: ["t": "alice"])
        )
        channel = try harness.connectedChannel([NATSConnectionHandler(services: services)])
    }

    func send(_ text: String) throws {
        try channel.receiveRead(ByteBuffer(string: text))
    }

    /// Everything written since the last call, and how many writes it took.
    func received() throws -> (text: String, writes: Int) {
        let buffers = try channel.writtenBuffers()
        return (buffers.map { String(buffer: $0) }.joined(), buffers.count)
    }

    @Test func infoFirstThenPingPong() throws {
        let info = try received().text
        #expect(info.hasPrefix("INFO {\"server_id\":\"NSB") && info.hasSuffix("}\r\n"))
        #expect(info.contains("\"client_ip\":\"127.0.0.1\""))
        #expect(connections.list().map(\.protocolName) == ["nats"])
        try send("PING\r\n")
        #expect(try received().text == "PONG\r\n")
    }

    @Test func deliveriesOfOneBatchLeaveInOneWrite() throws {
        _ = try received()
        try send("SUB a.* 1\r\nSUB a.b 2\r\nPUB a.b 1\r\nx\r\nPUB a.b r.1 2\r\nyz\r\n")
        let (text, writes) = try received()
        // Per subscription in publish order; the two subscriptions of one message in any order.
        let messages = text.split(separator: "MSG ").map { "MSG " + $0 }
        #expect(
            messages.filter { $0.hasPrefix("MSG a.b 1 ") } == ["MSG a.b 1 1\r\nx\r\n", "MSG a.b 1 r.1 2\r\nyz\r\n"])
        #expect(
            messages.filter { $0.hasPrefix("MSG a.b 2 ") } == ["MSG a.b 2 1\r\nx\r\n", "MSG a.b 2 r.1 2\r\nyz\r\n"])
        #expect(writes == 1)
    }

    /// Publications to the connection's own subscription wait for the end of the read (the shard's local
    /// run), but never past an operation that follows them: an UNSUB does not lose, nor a PONG overtake,
    /// a message published before it.
    @Test func anOperationAfterPublicationsRunsAfterTheirDeliveries() throws {
        _ = try received()
        try send("SUB a 1\r\n")
        try send("PUB a 1\r\nx\r\nPUB a 1\r\ny\r\nUNSUB 1\r\nPUB a 1\r\nz\r\nPING\r\n")
        #expect(try received().text == "MSG a 1 1\r\nx\r\nMSG a 1 1\r\ny\r\nPONG\r\n")
        try send("SUB a 2\r\nPUB a 1\r\nw\r\nPING\r\n")
        #expect(try received().text == "MSG a 2 1\r\nw\r\nPONG\r\n")
    }

    @Test func autoUnsubscribeAfterMax() throws {
        _ = try received()
        try send("SUB a 9\r\nUNSUB 9 2\r\n")
        try send("PUB a 1\r\n1\r\nPUB a 1\r\n2\r\nPUB a 1\r\n3\r\n")
        #expect(try received().text == "MSG a 9 1\r\n1\r\nMSG a 9 1\r\n2\r\n")
        #expect(connections.list().first?.subscriptions == [])
    }

    /// A packed run's plain publications (`LoopShard.publishPlain`, another loop's publisher) are written
    /// from their bytes as the `MSG`s the message would have made, and count towards an UNSUB's maximum.
    @Test func plainPublicationsAreWrittenFromTheirBytes() throws {
        _ = try received()
        try send("SUB a.b 9\r\nUNSUB 9 2\r\n")
        let topic = try Topic(NATSSubjectMapping.topicName(forSubject: "a.b"))
        let subscription = try #require(bus.registry.match(topic).members.first)
        let subscriber = subscription.subscriber
        #expect(subscriber.takesPlainPublications && subscription.takesPlainPublications)
        for payload in ["hello", "", "third"] {
            var bytes = Array(payload.utf8)
            _ = bytes.withUnsafeMutableBytes { bytes in
                subscriber.deliverPlain(
                    topic: topic, payload: UnsafeRawBufferPointer(bytes), publisherID: "p", timestamp: 1,
                    for: subscription)
            }
        }
        subscriber.flushDeliveries()
        #expect(try received().text == "MSG a.b 9 5\r\nhello\r\nMSG a.b 9 0\r\n\r\n")
        #expect(connections.list().first?.subscriptions == [])
    }

    @Test func verboseAndErrorsThatKeepTheConnection() throws {
        _ = try received()
        try send("CONNECT {\"verbose\":true}\r\nSUB a..b 1\r\nSUB ok 2\r\n")
        #expect(try received().text == "+OK\r\n-ERR 'Invalid Subject'\r\n+OK\r\n")
        #expect(channel.isActive)
    }

    @Test func parserErrorClosesTheConnection() throws {
        _ = try received()
        try send("NOPE\r\n")
        #expect(try received().text == "-ERR 'Unknown Protocol Operation'\r\n")
        #expect(!channel.isActive)
        #expect(connections.count == 0)
    }

    @Test func staleConnectionAfterUnansweredPings() throws {
        _ = try received()
        channel.embeddedEventLoop.advanceTime(by: .seconds(5) + KeepAliveSweeper.tick)
        #expect(try received().text == "PING\r\n")
        channel.embeddedEventLoop.advanceTime(by: .seconds(5) + KeepAliveSweeper.tick)
        #expect(try received().text == "-ERR 'Stale Connection'\r\n")
        #expect(!channel.isActive)
    }

    @Test func pongKeepsItAlive() throws {
        _ = try received()
        for _ in 0..<3 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(5) + KeepAliveSweeper.tick)
            #expect(try received().text == "PING\r\n")
            try send("PONG\r\n")
            // The PONG was traffic: the next interval needs no ping.
            channel.embeddedEventLoop.advanceTime(by: .seconds(5) + KeepAliveSweeper.tick)
            #expect(try received().text == "")
        }
        #expect(channel.isActive)
    }

    @Test func headersOnlyAfterConnectAsksForThem() throws {
        _ = try received()
        try send("HPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n")
        #expect(try received().text == "-ERR '\(NATSProtocolError.headersNotEnabled.text)'\r\n")
        #expect(!channel.isActive)
    }

    @Test func repeatedAndUnknownSidsAreNoOps() throws {
        _ = try received()
        try send("CONNECT {\"verbose\":true}\r\nSUB a 1\r\nSUB b 1\r\nUNSUB 7\r\nUNSUB 7 3\r\n")
        #expect(try received().text == "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n")
        #expect(connections.list().first?.subscriptions == ["a"])
        try send("PUB b 1\r\nx\r\nPUB a 1\r\ny\r\n")
        #expect(try received().text == "+OK\r\nMSG a 1 1\r\ny\r\n+OK\r\n")
    }

    @Test func noRespondersAnswersAnUnheardRequest() throws {
        _ = try received()
        try send("CONNECT {\"headers\":true,\"no_responders\":true}\r\nSUB _INBOX.1 1\r\nPUB svc _INBOX.1 0\r\n\r\n")
        #expect(try received().text == "HMSG _INBOX.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n")
        try send("SUB svc 2\r\nPUB svc _INBOX.1 0\r\n\r\n")
        #expect(try received().text == "MSG svc 2 _INBOX.1 0\r\n\r\n")
    }

    @Test func administrativeCloseSaysSo() throws {
        _ = try received()
        let id = try #require(connections.list().first?.id)
        #expect(connections.close(id, reason: .administrative))
        channel.embeddedEventLoop.run()
        #expect(try received().text == "-ERR 'Connection Closed By Administrator'\r\n")
        #expect(!channel.isActive)
    }
}

/// Authentication on the handler.
@Suite struct NATSConnectionHandlerAuthTests {
    @Test func operationBeforeConnectIsAViolation() throws {
        let harness = try NATSConnectionHandlerTests(anonymous: false)
        #expect(try harness.received().text.contains("\"auth_required\":true"))
        try harness.send("SUB a 1\r\n")
        #expect(try harness.received().text == "-ERR 'Authorization Violation'\r\n")
        #expect(!harness.channel.isActive)
    }

    @Test func tokenIdentifiesTheUser() throws {
        let harness = try NATSConnectionHandlerTests(anonymous: false)
        _ = try harness.received()
        try harness.send("CONNECT {\"auth_token\":\"t\",\"name\":\"n\"}\r\nPING\r\n")
        #expect(try harness.received().text == "PONG\r\n")
        #expect(harness.connections.list().first?.userID == "alice")
    }

    @Test func connectDeadline() throws {
        let harness = try NATSConnectionHandlerTests(anonymous: false)
        _ = try harness.received()
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(2) + KeepAliveSweeper.tick)
        #expect(try harness.received().text == "-ERR 'Authentication Timeout'\r\n")
        #expect(!harness.channel.isActive)
    }
}

/// Permissions and expiry as the handler applies them (the identity comes from a fixed authenticator).
@Suite struct NATSConnectionHandlerPermissionTests {
    struct FixedAuthenticator: Authenticator {
        var identity: ClientIdentity
        var allowsAnonymous: Bool { false }
        func authenticate(_ credentials: ClientCredentials) -> AuthOutcome {
            credentials.token == "ok" ? .accepted(identity) : .refused("invalid token")
        }
    }

    static func identity(expiresAt: Double? = nil) -> ClientIdentity {
        ClientIdentity(
            userID: "alice",
            permissions: TopicPermissions(
                publish: .only([try! TopicFilter("users/alice/#")]),
                subscribe: .only([try! TopicFilter("users/alice/#")])),
            expiresAt: expiresAt)
    }

    @Test func refusalsUseTheReferenceWordingAndKeepTheConnection() throws {
        let harness = try NATSConnectionHandlerTests(authenticator: FixedAuthenticator(identity: Self.identity()))
        _ = try harness.received()
        try harness.send("CONNECT {\"auth_token\":\"ok\",\"verbose\":true}\r\n")
        #expect(try harness.received().text == "+OK\r\n")
        try harness.send("SUB users.bob.> 1\r\nSUB users.> q 2\r\nPUB users.bob.x 1\r\nx\r\nSUB users.alice.* 3\r\n")
        #expect(
            try harness.received().text
                == "-ERR 'Permissions Violation for Subscription to \"users.bob.>\"'\r\n"
                + "-ERR 'Permissions Violation for Subscription to \"users.>\" using queue \"q\"'\r\n"
                + "-ERR 'Permissions Violation for Publish to \"users.bob.x\"'\r\n+OK\r\n")
        #expect(harness.channel.isActive)
        try harness.send("PUB users.alice.x 1\r\ny\r\n")
        let delivered = try harness.received().text
        #expect(delivered.contains("MSG users.alice.x 3 1\r\ny\r\n"), "\(delivered)")
    }

    @Test func anExpiredTokenClosesTheConnection() throws {
        let harness = try NATSConnectionHandlerTests(
            authenticator: FixedAuthenticator(identity: Self.identity(expiresAt: 1)))
        _ = try harness.received()
        try harness.send("CONNECT {\"auth_token\":\"ok\"}\r\n")
        harness.channel.embeddedEventLoop.advanceTime(by: KeepAliveSweeper.tick)
        #expect(try harness.received().text == "-ERR 'User Authentication Expired'\r\n")
        #expect(!harness.channel.isActive)
    }
}

/// FrontendKit's close reasons and admission refusals reach the wire through `NATSProtocolError`.
@Suite struct NATSCloseReasonMappingTests {
    @Test func everyCloseReasonHasItsWording() {
        #expect(NATSProtocolError(CloseReason.slowConsumer) == .slowConsumer)
        #expect(NATSProtocolError(CloseReason.keepAliveTimeout) == .staleConnection)
        #expect(NATSProtocolError(CloseReason.administrative) == .closedByAdministrator)
        #expect(NATSProtocolError(CloseReason.shutdown) == nil)
        for refusal in AdmissionRefusal.allCases {
            #expect(NATSProtocolError(refusal) == .maxConnectionsExceeded)
        }
    }
}

/// Publisher flow control when one batch of deliveries fills the outbound buffer past max_pending while
/// the channel stays writable: no writability change follows the flush, so the flush itself must let the
/// paused publishers go (before, they waited for their pause to expire: a slow reader stalled 30 s in
/// `test_a_fast_publisher_is_paused_for_a_reader_that_keeps_up_on_average[mqtt]`).
@Suite struct NATSPublisherFlowControlTests {
    final class Publisher: ConnectionController {
        let pauses = NIOLockedValueBox<[Bool]>([])
        func requestClose(_ reason: CloseReason) {}
        func publishingPaused(_ paused: Bool, by subscriberID: String) { pauses.withLockedValue { $0.append(paused) } }
    }

    @Test func aFlushIntoAWritableChannelReleasesThePausedPublishers() throws {
        let harness = EmbeddedBusHarness()
        var configuration = NATSConfiguration()
        configuration.limits.maxPayload = 16
        configuration.limits.maxPending = 64
        let services = NATSServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]))
        let channel = try harness.connectedChannel([NATSConnectionHandler(services: services)])
        let publisher = Publisher()
        #expect(
            harness.connections.register(
                ConnectionInfo(id: "pub", protocolName: "mqtt", remoteAddress: nil, connectedAt: 0),
                controller: publisher))
        try channel.receiveRead(ByteBuffer(string: "SUB fire 1\r\nPING\r\n"))
        _ = try channel.writtenBuffers()
        // Ten 16-byte messages in one loop turn: the buffer passes 64 bytes before the batch is flushed.
        for n in 0..<10 {
            let message = BusMessage(
                topic: try Topic("fire"), payload: ByteBuffer(string: String(repeating: "\(n)", count: 16)),
                publisherID: "pub", timestamp: harness.bus.clock())
            harness.bus.publish(message, on: channel.eventLoop)
        }
        channel.embeddedEventLoop.run()
        let written = try channel.writtenBuffers().map { String(buffer: $0) }.joined()
        #expect(written.split(separator: "MSG fire 1 ").count == 10)
        #expect(channel.isWritable)
        #expect(publisher.pauses.withLockedValue { $0 } == [true, false])
    }
}
