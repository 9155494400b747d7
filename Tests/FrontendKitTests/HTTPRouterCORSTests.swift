import FrontendKit
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// CORS on `/api/…` for pages of allowed origins: preflights answered with the path's methods, answers
/// readable by the origin, never with credentials; other origins and other paths get nothing; a route that
/// answers CORS itself keeps its own.
@Suite struct HTTPRouterCORSTests {
    let loop = EmbeddedEventLoop()

    func router(allowed: [String]) -> HTTPRouter {
        var builder = HTTPRouter.Builder()
        builder.apiOrigins = OriginPolicy(allowed: allowed)
        builder.add(.POST, "/api/publish", sync: { _ in HTTPResponse(status: .ok) })
        builder.add(.GET, "/api/collections/:c/records", sync: { _ in HTTPResponse(status: .ok) })
        builder.add(.PATCH, "/api/collections/:c/records", sync: { _ in HTTPResponse(status: .ok) })
        builder.add(
            .GET, "/api/own",
            sync: { _ in
                var response = HTTPResponse(status: .ok)
                response.headers.add(name: "Access-Control-Allow-Origin", value: "https://own.example")
                response.headers.add(name: "Access-Control-Allow-Credentials", value: "true")
                return response
            })
        builder.add(.GET, "/healthz", sync: { _ in HTTPResponse(status: .ok) })
        return builder.build()
    }

    func respond(
        _ router: HTTPRouter, _ method: HTTPMethod, _ uri: String, origin: String? = "https://app.example",
        preflight: Bool = false
    ) -> HTTPResponse? {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
        if let origin { head.headers.add(name: "Origin", value: origin) }
        if preflight { head.headers.add(name: "Access-Control-Request-Method", value: "POST") }
        var response: HTTPResponse?
        router.respond(to: HTTPRequest(head: head, body: ByteBuffer(), remoteAddress: nil), on: loop)
            .assumeIsolated().whenSuccess { response = $0 }
        loop.run()
        return response
    }

    @Test func aPreflightGetsThePathsMethodsAndNoCredentials() throws {
        let router = router(allowed: ["*"])
        let response = try #require(respond(router, .OPTIONS, "/api/collections/tasks/records", preflight: true))
        #expect(response.status == .noContent)
        #expect(response.headers.first(name: "Access-Control-Allow-Origin") == "https://app.example")
        #expect(response.headers.first(name: "Access-Control-Allow-Methods") == "GET, PATCH, OPTIONS")
        #expect(response.headers.first(name: "Access-Control-Allow-Headers")?.contains("Authorization") == true)
        #expect(!response.headers.contains(name: "Access-Control-Allow-Credentials"))
    }

    @Test func answersAreReadableByAnAllowedOriginOnly() throws {
        let open = router(allowed: ["*"])
        let answer = try #require(respond(open, .POST, "/api/publish"))
        #expect(answer.headers.first(name: "Access-Control-Allow-Origin") == "https://app.example")
        #expect(answer.headers.first(name: "Vary") == "Origin")
        #expect(!answer.headers.contains(name: "Access-Control-Allow-Credentials"))
        let listed = router(allowed: ["https://other.example"])
        #expect(respond(listed, .POST, "/api/publish")?.headers.contains(name: "Access-Control-Allow-Origin") == false)
        #expect(respond(listed, .OPTIONS, "/api/publish", preflight: true)?.status == .methodNotAllowed)
        // Without Origin (not a browser), and outside /api: nothing added.
        #expect(respond(open, .POST, "/api/publish", origin: nil)?.headers.contains(name: "Vary") == false)
        #expect(respond(open, .GET, "/healthz")?.headers.contains(name: "Access-Control-Allow-Origin") == false)
    }

    @Test func aRouteWithItsOwnCORSKeepsIt() throws {
        let response = try #require(respond(router(allowed: ["*"]), .GET, "/api/own"))
        #expect(response.headers[canonicalForm: "Access-Control-Allow-Origin"] == ["https://own.example"])
        #expect(response.headers.first(name: "Access-Control-Allow-Credentials") == "true")
    }
}
