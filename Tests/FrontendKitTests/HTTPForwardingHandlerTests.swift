import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import FrontendKit

/// The forwarding side of sessions across instances: one answer read whole per request, the serving
/// side's own headers left out; addresses as instances announce them.
@Suite struct HTTPForwardingHandlerTests {
    func answer(_ channel: EmbeddedChannel) throws -> EventLoopFuture<HTTPForwardingHandler.Answer> {
        let handler = try channel.pipeline.syncOperations.handler(type: HTTPForwardingHandler.self)
        let promise = channel.eventLoop.makePromise(of: HTTPForwardingHandler.Answer.self)
        handler.start(promise)
        return promise.futureResult
    }

    @Test func readsOneAnswerWholeWithoutTheServingSidesHeaders() throws {
        let channel = EmbeddedChannel(handler: HTTPForwardingHandler())
        let future = try answer(channel)
        var head = HTTPResponseHead(version: .http1_1, status: .badRequest)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: "8")
        head.headers.add(name: "Date", value: "today")
        head.headers.add(name: "Access-Control-Allow-Origin", value: "*")
        try channel.writeInbound(HTTPClientResponsePart.head(head))
        try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: "{\"co")))
        try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: "de\":1}")))
        try channel.writeInbound(HTTPClientResponsePart.end(nil))
        let got = try future.wait()
        #expect(got.response.status == .badRequest && got.keepAlive)
        #expect(String(buffer: got.response.body) == "{\"code\":1}")
        #expect(got.response.headers["Content-Type"] == ["application/json"])
        #expect(got.response.headers["Access-Control-Allow-Origin"] == ["*"])
        #expect(got.response.headers["Content-Length"].isEmpty && got.response.headers["Date"].isEmpty)
        // The next request on the same connection gets the next answer.
        let second = try answer(channel)
        try channel.writeInbound(HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
        try channel.writeInbound(HTTPClientResponsePart.end(nil))
        #expect(try second.wait().response.status == .ok)
    }

    @Test func aConnectionThatClosesMidAnswerFailsTheRequest() throws {
        let channel = EmbeddedChannel(handler: HTTPForwardingHandler())
        let future = try answer(channel)
        try channel.writeInbound(HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
        _ = try? channel.close().wait()
        #expect(throws: (any Error).self) { try future.wait() }
    }

    @Test func anAnswerPastTheLimitFailsAndCloses() throws {
        let channel = EmbeddedChannel(handler: HTTPForwardingHandler())
        let future = try answer(channel)
        try channel.writeInbound(HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
        let big = ByteBuffer(repeating: 0x61, count: HTTPForwardingClient.maxResponseBytes + 1)
        try channel.writeInbound(HTTPClientResponsePart.body(big))
        #expect(throws: HTTPForwardingError.self) { try future.wait() }
        #expect(!channel.isActive)
    }

    @Test func addressesAsInstancesAnnounceThem() {
        #expect(SessionForwarder.parse("127.0.0.1:8080").map { "\($0.0) \($0.1)" } == "127.0.0.1 8080")
        #expect(SessionForwarder.parse("[::1]:9000").map { "\($0.0) \($0.1)" } == "::1 9000")
        #expect(SessionForwarder.parse("host.example:1").map { "\($0.0) \($0.1)" } == "host.example 1")
        for broken in ["", ":80", "host", "host:", "host:port"] {
            #expect(SessionForwarder.parse(broken) == nil)
        }
    }
}
