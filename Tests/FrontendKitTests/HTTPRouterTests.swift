import FrontendKit
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// Route matching: literal segments and `:name` captures, HEAD as GET, 405 with `Allow`, 404.
@Suite struct HTTPRouterTests {
    let loop = EmbeddedEventLoop()
    let router: HTTPRouter

    init() {
        var builder = HTTPRouter.Builder()
        builder.add(.GET, "/api/connections", sync: { _ in Self.answer("list") })
        builder.add(.GET, "/api/connections/:id", sync: { Self.answer("get \($0.parameters["id"] ?? "-")") })
        builder.add(.DELETE, "/api/connections/:id", sync: { Self.answer("delete \($0.parameters["id"] ?? "-")") })
        builder.add(
            .POST, "/api/topics/:topic/messages/:kind",
            sync: { request in
                Self.answer("\(request.parameters["topic"] ?? "-") \(request.parameters["kind"] ?? "-")")
            })
        builder.add(.GET, "/api/fails", sync: { _ in throw APIError.badRequest("no") })
        router = builder.build()
    }

    static func answer(_ text: String) -> HTTPResponse {
        HTTPResponse(status: .ok, headers: [:], body: ByteBuffer(string: text))
    }

    /// The router's answer to `method uri` (routes answer at once on an embedded loop).
    func respond(_ method: HTTPMethod, _ uri: String) -> HTTPResponse? {
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
        var response: HTTPResponse?
        router.respond(to: HTTPRequest(head: head, body: ByteBuffer(), remoteAddress: nil), on: loop)
            .assumeIsolated().whenSuccess { response = $0 }
        loop.run()
        return response
    }

    func body(_ method: HTTPMethod, _ uri: String) -> String? {
        respond(method, uri).map { String(buffer: $0.body) }
    }

    @Test func literalPathsMatchExactly() {
        #expect(body(.GET, "/api/connections") == "list")
        #expect(body(.GET, "/api/connections/") == "list", "a trailing slash is no extra segment")
        #expect(respond(.GET, "/api/connection")?.status == .notFound)
        #expect(respond(.GET, "/api")?.status == .notFound)
    }

    @Test func capturesNameTheirSegment() {
        #expect(body(.GET, "/api/connections/c-42") == "get c-42")
        #expect(body(.DELETE, "/api/connections/c-42") == "delete c-42")
        #expect(body(.POST, "/api/topics/orders/messages/batch") == "orders batch")
        #expect(respond(.GET, "/api/connections/a/b")?.status == .notFound, "a capture takes one segment")
    }

    @Test func capturesAndPathArePercentDecodedAndTheQueryIsNotPartOfThePath() {
        #expect(body(.GET, "/api/connections/a%20b?verbose=1") == "get a b")
    }

    @Test func headIsAnsweredByTheGetRoute() {
        #expect(body(.HEAD, "/api/connections") == "list")
    }

    @Test func aKnownPathWithAnotherMethodIs405WithAllow() {
        let response = respond(.PUT, "/api/connections/c-1")
        #expect(response?.status == .methodNotAllowed)
        #expect(response?.headers["Allow"] == ["GET, DELETE"])
    }

    @Test func unknownPathIs404() {
        #expect(respond(.GET, "/nowhere")?.status == .notFound)
        #expect(respond(.POST, "/nowhere")?.status == .notFound)
        #expect(respond(.GET, "/")?.status == .notFound, "no segments")
        #expect(respond(.GET, "/api/topics/a/messages/b/c/d/e")?.status == .notFound, "longer than every route")
    }

    /// Routes are tried in the order they were added among those of the path's length.
    @Test func theFirstMatchingRouteOfThePathsLengthAnswers() {
        var builder = HTTPRouter.Builder()
        builder.add(.GET, "/a/:x", sync: { _ in Self.answer("capture") })
        builder.add(.GET, "/a", sync: { _ in Self.answer("short") })
        builder.add(.GET, "/a/b", sync: { _ in Self.answer("literal") })
        builder.add(.GET, "/a/b/c", sync: { _ in Self.answer("long") })
        let router = builder.build()
        func body(_ uri: String) -> String? {
            var text: String?
            router.respond(
                to: HTTPRequest(
                    head: HTTPRequestHead(version: .http1_1, method: .GET, uri: uri), body: ByteBuffer(),
                    remoteAddress: nil), on: loop
            ).assumeIsolated().whenSuccess { text = String(buffer: $0.body) }
            loop.run()
            return text
        }
        #expect(body("/a/b") == "capture")
        #expect(body("/a") == "short")
        #expect(body("/a/b/c") == "long")
    }

    @Test func aThrownAPIErrorBecomesItsResponse() {
        #expect(respond(.GET, "/api/fails")?.status == .badRequest)
    }
}
