package import NIOCore
package import NIOHTTP1

/// Maps method + path to a route. Paths are literal segments or `:name` captures. A path that exists
/// with another method answers 405; no path answers 404.
package final class HTTPRouter: Sendable {
    /// A route: runs on the connection's event loop and completes with the response.
    package typealias Handler = @Sendable (HTTPRequest, any EventLoop) -> EventLoopFuture<HTTPResponse>

    private struct Route: Sendable {
        var method: HTTPMethod
        var segments: [Substring]
        var handler: Handler
    }

    private let routes: [Route]
    /// The routes of each path length (in segments), in the order they were added: a path is matched
    /// only against the routes that can match it, not all of them (a records create went through ~90,
    /// each copied out of the array as it was tried).
    private let routesBySegmentCount: [[Route]]
    /// Origins whose pages may call `/api/…` from the browser (`allowed_origins`); nil: no CORS on `/api`.
    private let apiOrigins: OriginPolicy?

    private init(routes: [Route], apiOrigins: OriginPolicy?) {
        self.routes = routes
        var bySegmentCount: [[Route]] = Array(repeating: [], count: (routes.map(\.segments.count).max() ?? 0) + 1)
        for route in routes { bySegmentCount[route.segments.count].append(route) }
        self.routesBySegmentCount = bySegmentCount
        self.apiOrigins = apiOrigins
    }

    /// Collects routes, then freezes them into a router.
    package struct Builder {
        private var routes: [Route] = []
        /// The server's check for admin routes (the API key, or an admin user when security is on), set by
        /// the server before the frontends register theirs; `addAdmin` wraps a route with it.
        package var adminGuard: @Sendable (@escaping Handler) -> Handler = { $0 }
        /// Browser pages of these origins may call `/api/…` (see `HTTPRouter.apiCORS`); nil: none may.
        package var apiOrigins: OriginPolicy?
        package init() {}

        /// A route of the admin API (`/api/...`): only the API key or an admin may use it, as for the
        /// server's own `/api` routes.
        package mutating func addAdmin(_ method: HTTPMethod, _ path: String, _ handler: @escaping Handler) {
            add(method, path, adminGuard(handler))
        }

        package mutating func add(_ method: HTTPMethod, _ path: String, _ handler: @escaping Handler) {
            routes.append(Route(method: method, segments: path.split(separator: "/"), handler: handler))
        }

        /// A route that answers synchronously; thrown `APIError`s become JSON error responses.
        package mutating func add(
            _ method: HTTPMethod, _ path: String, sync handler: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse
        ) {
            add(method, path) { request, loop in
                do {
                    return loop.makeSucceededFuture(try handler(request))
                } catch let error as APIError {
                    return loop.makeSucceededFuture(.error(error))
                } catch {
                    return loop.makeSucceededFuture(.error(APIError(.internalServerError, "internal", "\(error)")))
                }
            }
        }

        package func build() -> HTTPRouter { HTTPRouter(routes: routes, apiOrigins: apiOrigins) }
    }

    /// Routes `request`, answering 404/405 itself; `/api/…` requests from an allowed browser origin get
    /// CORS headers (and their preflights an answer) unless the route gives its own.
    package func respond(to request: HTTPRequest, on loop: any EventLoop) -> EventLoopFuture<HTTPResponse> {
        guard let apiOrigins, request.path.hasPrefix("/api/"), let origin = request.head.headers.first(name: "Origin"),
            apiOrigins.permits(request.head)
        else { return route(request, on: loop) }
        let segments = request.path.split(separator: "/")
        let methods = routes.filter { HTTPRouter.match($0.segments, segments) != nil }.map(\.method)
        if request.head.method == .OPTIONS, !methods.contains(.OPTIONS),
            request.head.headers.contains(name: "Access-Control-Request-Method")
        {
            var response = HTTPResponse(status: .noContent)
            Self.apiCORS(&response.headers, origin: origin)
            let allowed = (methods + [.OPTIONS]).map { "\($0)" }
            response.headers.add(name: "Access-Control-Allow-Methods", value: allowed.joined(separator: ", "))
            response.headers.add(
                name: "Access-Control-Allow-Headers", value: "Authorization, Content-Type, If-Match, X-API-Key")
            response.headers.add(name: "Access-Control-Max-Age", value: "600")
            return loop.makeSucceededFuture(response)
        }
        return route(request, on: loop).map { response in
            guard !response.headers.contains(name: "Access-Control-Allow-Origin") else { return response }
            var response = response
            Self.apiCORS(&response.headers, origin: origin)
            return response
        }
    }

    /// CORS for the API: the origin may read the answer, without credentials — a page must present a token
    /// or the API key itself (`Authorization`, `X-API-Key`); the browser never adds cookies or remembered
    /// HTTP Basic credentials, so another site cannot act with what the browser holds.
    static func apiCORS(_ headers: inout HTTPHeaders, origin: String) {
        headers.add(name: "Access-Control-Allow-Origin", value: origin)
        headers.add(name: "Access-Control-Expose-Headers", value: "ETag")
        headers.add(name: "Vary", value: "Origin")
    }

    private func route(_ request: HTTPRequest, on loop: any EventLoop) -> EventLoopFuture<HTTPResponse> {
        let segments = request.path.split(separator: "/")
        var pathMatched = false
        let candidates = segments.count < routesBySegmentCount.count ? routesBySegmentCount[segments.count] : []
        for route in candidates {
            guard let parameters = HTTPRouter.match(route.segments, segments) else { continue }
            pathMatched = true
            guard
                route.method == request.head.method
                    || (request.head.method == .HEAD && route.method == .GET)
            else { continue }
            var request = request
            request.parameters = parameters
            return route.handler(request, loop)
        }
        if pathMatched {
            var response = HTTPResponse.error(
                APIError(
                    .methodNotAllowed, "method_not_allowed", "\(request.head.method) is not allowed on \(request.path)")
            )
            response.headers.add(
                name: "Allow",
                value: routes.filter { HTTPRouter.match($0.segments, segments) != nil }.map { "\($0.method)" }.joined(
                    separator: ", "))
            return loop.makeSucceededFuture(response)
        }
        return loop.makeSucceededFuture(.error(.notFound("no route for \(request.path)")))
    }

    private static func match(_ pattern: [Substring], _ segments: [Substring]) -> [String: String]? {
        guard pattern.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (expected, actual) in zip(pattern, segments) {
            if expected.first == ":" {
                parameters[String(expected.dropFirst())] = String(actual)
            } else if expected != actual {
                return nil
            }
        }
        return parameters
    }
}
