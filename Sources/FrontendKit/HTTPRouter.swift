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

    private init(routes: [Route]) { self.routes = routes }

    /// Collects routes, then freezes them into a router.
    package struct Builder {
        private var routes: [Route] = []
        /// The server's check for admin routes (the API key, or an admin user when security is on), set by
        /// the server before the frontends register theirs; `addAdmin` wraps a route with it.
        package var adminGuard: @Sendable (@escaping Handler) -> Handler = { $0 }
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

        package func build() -> HTTPRouter { HTTPRouter(routes: routes) }
    }

    /// Routes `request`, answering 404/405 itself.
    package func respond(to request: HTTPRequest, on loop: any EventLoop) -> EventLoopFuture<HTTPResponse> {
        let segments = request.path.split(separator: "/")
        var pathMatched = false
        for route in routes {
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
