import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOHTTP1

/// Collaboration sessions and consensus votes over HTTP (issue 21, docs/collaboration.md). Every caller is
/// a user (HTTP Basic, a token, a JWT) or an admin (the API key, an admin user); what they may do follows
/// session membership: participants read a session, open votes and cast ballots; its owner changes and
/// closes it. Errors are the API's `{"error":{"code","message"}}`.
extension APIRoutes {
    func registerSessions(into router: inout HTTPRouter.Builder) {
        router.add(
            .GET, "/api/sessions",
            sessionRoute { _, caller, loop in
                let items = self.collaboration.list(caller).map { CollaborationJSON.session($0) }
                return loop.makeSucceededFuture(Self.ok(.object([JSONField(key: "items", value: .array(items))])))
            })
        router.add(
            .POST, "/api/sessions",
            sessionRoute { request, caller, loop in
                let body = try Self.body(request)
                return self.answer(on: loop) { done in
                    self.collaboration.createSession(body, caller: caller) {
                        done($0.map { CollaborationJSON.session($0) })
                    }
                }
            })
        router.add(
            .GET, "/api/sessions/:session",
            sessionRoute { request, caller, loop in
                let id = request.parameters["session"] ?? ""
                let (session, votes) = try self.collaboration.session(id, caller)
                return loop.makeSucceededFuture(
                    Self.ok(CollaborationJSON.session(session, online: self.collaboration.online(id), votes: votes)))
            })
        router.add(
            .PATCH, "/api/sessions/:session",
            sessionRoute { request, caller, loop in
                let body = try Self.body(request)
                return self.answer(on: loop) { done in
                    self.collaboration.updateSession(request.parameters["session"] ?? "", body, caller: caller) {
                        done($0.map { CollaborationJSON.session($0) })
                    }
                }
            })
        router.add(
            .POST, "/api/sessions/:session/close",
            sessionRoute { request, caller, loop in
                self.answer(on: loop) { done in
                    self.collaboration.closeSession(request.parameters["session"] ?? "", caller: caller) {
                        done($0.map { CollaborationJSON.session($0) })
                    }
                }
            })
        router.add(
            .GET, "/api/sessions/:session/votes",
            sessionRoute { request, caller, loop in
                let (_, votes) = try self.collaboration.session(request.parameters["session"] ?? "", caller)
                let items = JSONValue.array(votes.map { CollaborationJSON.vote($0) })
                return loop.makeSucceededFuture(Self.ok(.object([JSONField(key: "items", value: items)])))
            })
        router.add(
            .POST, "/api/sessions/:session/votes",
            sessionRoute { request, caller, loop in
                let body = try Self.body(request)
                return self.answer(on: loop) { done in
                    self.collaboration.openVote(request.parameters["session"] ?? "", body, caller: caller) {
                        done($0.map { CollaborationJSON.vote($0) })
                    }
                }
            })
        router.add(
            .GET, "/api/sessions/:session/votes/:vote",
            sessionRoute { request, caller, loop in
                let vote = try self.collaboration.vote(
                    request.parameters["session"] ?? "", request.parameters["vote"] ?? "", caller)
                return loop.makeSucceededFuture(Self.ok(CollaborationJSON.vote(vote)))
            })
        router.add(
            .POST, "/api/sessions/:session/votes/:vote/cast",
            sessionRoute { request, caller, loop in
                let body = try Self.body(request)
                guard let option = body["option"]?.stringValue else {
                    throw CollaborationError(.badRequest, "\"option\" (a string) is required")
                }
                return self.answer(on: loop) { done in
                    self.collaboration.cast(
                        request.parameters["session"] ?? "", request.parameters["vote"] ?? "", option: option,
                        caller: caller
                    ) { done($0) }
                }
            })
        router.add(
            .POST, "/api/sessions/:session/votes/:vote/close",
            sessionRoute { request, caller, loop in
                self.answer(on: loop) { done in
                    self.collaboration.closeVote(
                        request.parameters["session"] ?? "", request.parameters["vote"] ?? "", caller: caller
                    ) { done($0.map { CollaborationJSON.vote($0) }) }
                }
            })
    }

    typealias SessionHandler =
        @Sendable (HTTPRequest, CollaborationCaller, any EventLoop) throws -> EventLoopFuture<
            HTTPResponse
        >

    /// Runs `handler` for the request's caller (credentials checked off the loop first when they need it).
    private func sessionRoute(_ handler: @escaping SessionHandler) -> HTTPRouter.Handler {
        { request, loop in
            let run = { () -> EventLoopFuture<HTTPResponse> in
                do {
                    return try handler(request, try self.sessionCaller(request), loop)
                } catch let error as CollaborationError {
                    return loop.makeSucceededFuture(Self.failure(error))
                } catch {
                    return loop.makeSucceededFuture(.error(APIError(.internalServerError, "internal", "\(error)")))
                }
            }
            let credentials = request.head.headers.clientCredentials(query: nil)
            guard authenticator.isSecured, let preparing = authenticator.prepare(credentials, on: loop) else {
                return run()
            }
            return preparing.flatMap { run() }
        }
    }

    /// The API key is an admin with no user; credentials name a user (an admin user is both); no
    /// credentials on a server that takes anonymous clients: an anonymous caller, who takes part in nothing
    /// unless the server has no credentials at all (then it is an admin, as for the rest of the API).
    private func sessionCaller(_ request: HTTPRequest) throws -> CollaborationCaller {
        let headers = request.head.headers
        if let apiKey, headers.first(name: "X-API-Key") == apiKey || headers.bearerToken == apiKey {
            return CollaborationCaller(user: nil, isAdmin: true)
        }
        let credentials = headers.clientCredentials(query: nil)
        switch authenticator.authenticate(credentials) {
        case .accepted(let identity):
            // An anonymous caller of a server with no API key and no security is an admin, as for the rest of
            // the API; a user is one only when the security model says so.
            let open = identity.userID == nil && apiKey == nil && !authenticator.isSecured
            return CollaborationCaller(user: identity.userID, roles: identity.roles, isAdmin: identity.isAdmin || open)
        case .refused:
            throw CollaborationError(.unauthorized, "valid credentials are required")
        }
    }

    private static func body(_ request: HTTPRequest) throws -> JSONValue {
        guard request.body.readableBytes > 0 else { return .object([]) }
        guard let value = try? request.body.withUnsafeReadableBytes({ try JSONParser.parse($0) }), case .object = value
        else { throw CollaborationError(.badRequest, "the body must be a JSON object") }
        return value
    }

    /// A future answered by `start`'s callback (from any thread) on `loop`.
    private func answer(
        on loop: any EventLoop,
        _ start: (@escaping @Sendable (Result<JSONValue, CollaborationError>) -> Void) -> Void
    ) -> EventLoopFuture<HTTPResponse> {
        let promise = loop.makePromise(of: HTTPResponse.self)
        start { result in
            switch result {
            case .success(let value): promise.succeed(Self.ok(value))
            case .failure(let error): promise.succeed(Self.failure(error))
            }
        }
        return promise.futureResult
    }

    static func ok(_ value: JSONValue) -> HTTPResponse { .json { $0.writeJSONValue(value) } }

    static func failure(_ error: CollaborationError) -> HTTPResponse {
        let status: HTTPResponseStatus =
            switch error.kind {
            case .badRequest: .badRequest
            case .unauthorized: .unauthorized
            case .forbidden: .forbidden
            case .notFound: .notFound
            case .conflict: .conflict
            case .unavailable: .serviceUnavailable
            }
        return .error(APIError(status, error.kind.rawValue, error.message))
    }
}
