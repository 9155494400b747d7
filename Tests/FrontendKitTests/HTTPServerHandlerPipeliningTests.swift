import Foundation
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// HTTP/1.1 pipelining (RFC 9112 §9.3.2) in the pipeline every HTTP port uses (`HTTPServerService.configure`):
/// answers go out in the order the requests came, a malformed request is answered 400 in its turn, and the
/// connection keeps reading while one request at a time is answered (NIO's pipelining handler, no longer in
/// the pipeline, withheld every read until each answer was written: two `epoll_ctl` calls per request).
@Suite struct HTTPServerHandlerPipeliningTests {
    let channel = EmbeddedChannel()
    /// The answer of each `/later` request, oldest first, completed by the test.
    let held = NIOLockedValueBox<[EventLoopPromise<HTTPResponse>]>([])
    /// The `read` calls that reached the head of the pipeline.
    let reads = NIOLockedValueBox(0)

    /// Counts the `read` calls that pass it (placed first, so it sees those nothing held back).
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        let reads: NIOLockedValueBox<Int>
        init(_ reads: NIOLockedValueBox<Int>) { self.reads = reads }
        func read(context: ChannelHandlerContext) {
            reads.withLockedValue { $0 += 1 }
            context.read()
        }
    }

    init() throws {
        var builder = HTTPRouter.Builder()
        builder.add(.GET, "/now", sync: { _ in HTTPResponse(status: .ok, body: ByteBuffer(string: "now")) })
        let held = held
        builder.add(.GET, "/later") { _, loop in
            let promise = loop.makePromise(of: HTTPResponse.self)
            held.withLockedValue { $0.append(promise) }
            return promise.futureResult
        }
        try channel.pipeline.syncOperations.addHandler(ReadCounter(reads))
        try HTTPServerService.configure(
            channel, router: builder.build(), endpoints: [],
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
        channel.embeddedEventLoop.run()
    }

    /// Completes the oldest held `/later` with `status`.
    func answerLater(_ status: HTTPResponseStatus) {
        let promise = held.withLockedValue { $0.isEmpty ? nil : $0.removeFirst() }
        promise?.succeed(HTTPResponse(status: status, body: ByteBuffer(string: "later")))
        channel.embeddedEventLoop.run()
    }

    /// The status codes of the answers written since the last call, in order.
    func answered() throws -> [Int] {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        // Each answer starts with its status line; bodies here never hold "HTTP/1.1 ".
        return text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }

    static let later = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
    static let now = "GET /now HTTP/1.1\r\nHost: x\r\n\r\n"

    @Test func pipelinedRequestsAreAnsweredInTheOrderTheyCame() throws {
        try send(Self.later + Self.now + Self.later + Self.now)
        #expect(try answered() == [], "the first answer is not ready, so none goes out")
        answerLater(.accepted)
        #expect(try answered() == [202, 200], "the answer ready behind it follows at once")
        answerLater(.created)
        #expect(try answered() == [201, 200])
        #expect(channel.isActive)
    }

    /// The `read` calls that reached the head of the pipeline while `body` ran.
    func readsPassed(_ body: () throws -> Void) rethrows -> Int {
        let before = reads.withLockedValue { $0 }
        try body()
        return reads.withLockedValue { $0 } - before
    }

    @Test func readingGoesOnWhileOneRequestAtATimeIsAnswered() throws {
        try send(Self.later)
        #expect(readsPassed { channel.read() } == 1, "one request being answered holds no read back")
        answerLater(.accepted)
        #expect(try answered() == [202])
        try send(Self.now)
        #expect(try answered() == [200])
        #expect(readsPassed { channel.read() } == 1)
    }

    @Test func aRequestWaitingBehindAnotherHoldsReadingBackUntilItsTurn() throws {
        try send(Self.later + Self.later)
        #expect(readsPassed { channel.read() } == 0, "a complete request waits: read no more")
        #expect(
            readsPassed { answerLater(.accepted) } == 1,
            "the second is being answered now and nothing waits: the held read goes out")
        #expect(try answered() == [202])
        answerLater(.created)
        #expect(try answered() == [201])
    }

    @Test func theReadHeldBackGoesOutWhenTheQueueEmpties() throws {
        try send(Self.later + Self.now + Self.now)
        #expect(readsPassed { channel.read() } == 0)
        #expect(readsPassed { answerLater(.accepted) } == 1, "all three answered: the held read goes out once")
        #expect(try answered() == [202, 200, 200])
    }

    @Test func aMalformedRequestIsAnswered400InItsTurnAndTheConnectionCloses() throws {
        try send(Self.later + "NOT HTTP AT ALL\r\n\r\n")
        #expect(try answered() == [])
        #expect(channel.isActive, "the request before it is still being answered")
        answerLater(.accepted)
        #expect(try answered() == [202, 400])
        #expect(!channel.isActive)
    }

    @Test func aMalformedFirstRequestIsAnswered400AtOnce() throws {
        try send("NOT HTTP AT ALL\r\n\r\n")
        #expect(try answered() == [400])
        #expect(!channel.isActive)
    }

    @Test func aTooLargeBodyBehindAnotherRequestIsAnswered413InItsTurn() throws {
        let body = String(repeating: "x", count: (1 << 20) + 1)
        try send(Self.later + "POST /now HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        #expect(try answered() == [])
        answerLater(.accepted)
        #expect(try answered() == [202, 413])
    }
}
