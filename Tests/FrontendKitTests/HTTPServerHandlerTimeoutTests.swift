import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// `HTTPServerHandler`'s request-head deadlines on the embedded loop's virtual clock: a connection closes
/// when no request head arrives within `request` of opening or `keepAlive` of its last answer; each answer
/// moves the deadline on (the timer is armed once per idle stretch and looks again when it fires), and a
/// request in flight is never cut off.
@Suite struct HTTPServerHandlerTimeoutTests {
    let channel: EmbeddedChannel
    /// The answer of `/later`, completed by the test.
    let held = NIOLockedValueBox<EventLoopPromise<HTTPResponse>?>(nil)

    init() throws {
        var builder = HTTPRouter.Builder()
        builder.add(.GET, "/now", sync: { _ in HTTPResponse(status: .ok, body: ByteBuffer(string: "ok")) })
        let held = held
        builder.add(.GET, "/later") { _, loop in
            let promise = loop.makePromise(of: HTTPResponse.self)
            held.withLockedValue { $0 = promise }
            return promise.futureResult
        }
        channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            HTTPServerHandler(
                router: builder.build(), maxBodyBytes: 1024,
                timeouts: .init(request: .seconds(10), keepAlive: .seconds(75))))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    func request(_ uri: String) throws {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri)
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        channel.embeddedEventLoop.run()
    }

    /// The statuses of the answers written since the last call.
    func answered() throws -> [HTTPResponseStatus] {
        var statuses: [HTTPResponseStatus] = []
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            if case .head(let head) = part { statuses.append(head.status) }
        }
        return statuses
    }

    func advance(seconds: Int64) {
        channel.embeddedEventLoop.advanceTime(by: .seconds(seconds))
    }

    @Test func aConnectionWithoutARequestClosesAfterTheRequestTimeout() {
        advance(seconds: 9)
        #expect(channel.isActive)
        advance(seconds: 1)
        #expect(!channel.isActive)
    }

    @Test func anIdleConnectionClosesTheKeepAliveAfterItsLastAnswer() throws {
        try request("/now")
        #expect(try answered() == [.ok])
        advance(seconds: 74)
        #expect(channel.isActive)
        advance(seconds: 1)
        #expect(!channel.isActive)
    }

    @Test func everyAnswerMovesTheDeadlineOn() throws {
        try request("/now")
        #expect(try answered() == [.ok])
        for _ in 0..<4 {
            advance(seconds: 50)
            try request("/now")
            #expect(try answered() == [.ok])
        }
        // 200 s since the connection opened; its last answer was 0 s ago.
        advance(seconds: 74)
        #expect(channel.isActive, "the timer armed at the first answer fired and looked again")
        advance(seconds: 1)
        #expect(!channel.isActive)
    }

    @Test func aRequestInFlightIsNotCutOffAndTheDeadlineCountsFromItsAnswer() throws {
        try request("/now")
        #expect(try answered() == [.ok])
        advance(seconds: 30)
        try request("/later")
        advance(seconds: 100)
        #expect(channel.isActive, "a request is in flight")
        held.withLockedValue { $0 }?.succeed(HTTPResponse(status: .accepted))
        channel.embeddedEventLoop.run()
        #expect(try answered() == [.accepted])
        advance(seconds: 74)
        #expect(channel.isActive)
        advance(seconds: 1)
        #expect(!channel.isActive)
    }
}
