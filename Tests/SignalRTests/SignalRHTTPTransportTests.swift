import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import SignalRWire
import SwitchboardTestSupport
import Testing

@testable import SignalRFrontend

/// Long polling and the Server-Sent Events framing without HTTP: the connection fed as POSTs feed it,
/// polled as GETs poll it, on the embedded loop with the bus.
@Suite struct SignalRHTTPTransportTests {
    let harness = EmbeddedBusHarness()
    let services: SignalRServices
    let connection: SignalRConnectionHandler

    init() {
        var configuration = SignalRConfiguration()
        configuration.longPollTimeoutMilliseconds = 1_000
        configuration.disconnectTimeoutMilliseconds = 2_000
        services = SignalRServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]))
        connection = SignalRConnectionHandler(
            services: services, connectionID: "c1", credentials: ClientCredentials(),
            outbound: .longPolling(SignalRLongPoll(now: harness.loop.now)), token: "t1", eventLoop: harness.loop)
    }

    func post(_ text: String) -> Bool { connection.received(ByteBuffer(string: text)) }

    func poll() -> EventLoopFuture<SignalRPollAnswer> { connection.poll(closeFuture: nil) }

    func text(_ future: EventLoopFuture<SignalRPollAnswer>) throws -> String? {
        harness.loop.run()
        guard case .messages(let body) = try future.wait() else { return nil }
        return String(buffer: body)
    }

    func isEnded(_ future: EventLoopFuture<SignalRPollAnswer>) throws -> Bool {
        harness.loop.run()
        if case .ended = try future.wait() { return true }
        return false
    }

    @Test func firstPollIsEmptyThenMessagesWaitForTheNext() throws {
        #expect(connection.startOverHTTP(remoteAddress: nil))
        #expect(services.httpConnection(token: "t1") === connection)
        guard case .empty = try poll().wait() else { Issue.record("the first poll is answered empty"); return }
        let held = poll()
        #expect(post("{\"protocol\":\"json\",\"version\":1}\u{1e}"))
        #expect(try text(held) == "{}\u{1e}")
        // Several messages between polls go out together, in order.
        #expect(post("{\"type\":1,\"invocationId\":\"1\",\"target\":\"Subscribe\",\"arguments\":[\"a/b\"]}\u{1e}"))
        #expect(post("{\"type\":1,\"invocationId\":\"2\",\"target\":\"Unsubscribe\",\"arguments\":[\"a/b\"]}\u{1e}"))
        #expect(
            try text(poll()) == "{\"type\":3,\"invocationId\":\"1\"}\u{1e}{\"type\":3,\"invocationId\":\"2\"}\u{1e}")
    }

    @Test func aNewerPollEndsTheWaitingOne() throws {
        #expect(connection.startOverHTTP(remoteAddress: nil))
        _ = poll()
        let first = poll()
        let second = poll()
        #expect(try isEnded(first))
        #expect(post("{\"protocol\":\"json\",\"version\":1}\u{1e}"))
        #expect(try text(second) == "{}\u{1e}")
    }

    @Test func pollTimeoutAnswersEmptyAndSilenceEndsTheConnection() throws {
        #expect(connection.startOverHTTP(remoteAddress: nil))
        _ = poll()
        #expect(post("{\"protocol\":\"json\",\"version\":1}\u{1e}"))
        #expect(try text(poll()) == "{}\u{1e}")
        let held = poll()
        harness.loop.advanceTime(by: .milliseconds(1_250))
        guard case .empty = try held.wait() else { Issue.record("a held poll times out empty"); return }
        // No poll for longer than the disconnect timeout: ended, and later requests find nothing.
        harness.loop.advanceTime(by: .milliseconds(2_500))
        #expect(!post("{\"type\":6}\u{1e}"))
        #expect(services.httpConnection(token: "t1") == nil)
    }

    @Test func deleteSendsWhatIsPendingThenEnds() throws {
        #expect(connection.startOverHTTP(remoteAddress: nil))
        _ = poll()
        #expect(post("{\"protocol\":\"json\",\"version\":1}\u{1e}"))
        #expect(connection.deleteRequested())
        #expect(try text(poll()) == "{}\u{1e}")
        #expect(try isEnded(poll()))
        #expect(services.httpConnection(token: "t1") == nil)
        #expect(!post("{\"type\":6}\u{1e}"))
    }

    @Test func aProtocolErrorIsACloseForTheNextPoll() throws {
        #expect(connection.startOverHTTP(remoteAddress: nil))
        #expect(post("{\"protocol\":\"json\",\"version\":1}\u{1e}{\"type\":1,\"target\":42}\u{1e}"))
        let answer = try text(poll()) ?? ""
        #expect(answer.hasPrefix("{}\u{1e}{\"type\":7,\"error\":"))
        #expect(try isEnded(poll()))
    }

    @Test func eventsPrefixEveryLineWithData() {
        func event(_ text: String) -> String {
            var buffer = ByteBuffer()
            SignalRConnectionHandler.writeEvent(&buffer, ByteBuffer(string: text))
            return String(buffer: buffer)
        }
        #expect(event("{}\u{1e}") == "data: {}\u{1e}\r\n\r\n")
        #expect(event("{\n\"a\":1\r\n}\r\u{1e}") == "data: {\r\ndata: \"a\":1\r\ndata: }\r\ndata: \u{1e}\r\n\r\n")
        #expect(event("") == "data: \r\n\r\n")
    }
}
