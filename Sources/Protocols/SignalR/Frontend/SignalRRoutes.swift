import BusCore
import BusRuntime
package import FrontendKit
import NIOCore
import NIOHTTP1
import SignalRWire

/// `POST <hub>/negotiate` (TransportProtocols.md §negotiate): checks the caller's credentials (an
/// `access_token` query value or `Authorization: Bearer`, as the SignalR clients send them; 401 when
/// refused) and answers the connection's id, its token and the transports. The token is what the
/// transport request must carry as `id`. The HTTP transports' requests on `<hub>` itself are in
/// SignalRRoutes+HTTPTransports.swift.
package enum SignalRRoutes {
    static func register(into router: inout HTTPRouter.Builder, services: SignalRServices) {
        for hub in services.configuration.hubs ?? [] {
            let path = services.configuration.pathPrefix + hub + "/negotiate"
            router.add(.POST, path) { request, loop in negotiate(request, hub: hub, loop: loop, services: services) }
            router.add(.OPTIONS, path) { request, loop in
                loop.makeSucceededFuture(
                    HTTPCORS(origins: services.configuration.origins).preflight(request.head, methods: "POST, OPTIONS"))
            }
            registerTransports(into: &router, hub: hub, services: services)
        }
    }

    /// What a SignalR request presents: `Authorization`, else `?access_token=` (the clients' query name
    /// for WebSockets, Server-Sent Events and long polling), else `?token=`.
    static func credentials(_ head: HTTPRequestHead, query: [String: [String]]) -> ClientCredentials {
        head.headers.clientCredentials(query: query["access_token"]?.first ?? query["token"]?.first)
    }

    private static func negotiate(
        _ request: HTTPRequest, hub: String, loop: any EventLoop, services: SignalRServices
    ) -> EventLoopFuture<HTTPResponse> {
        let credentials = credentials(request.head, query: request.query)
        let cors = HTTPCORS(origins: services.configuration.origins)
        return services.authenticator.prepared(credentials, on: loop).map { _ in
            var response: HTTPResponse
            let outcome = services.authenticator.authenticate(credentials)
            if case .refused(let reason) = outcome {
                services.counters.countAuthenticationFailure()
                response = HTTPResponse(status: .unauthorized, body: ByteBuffer(string: reason))
                response.headers.add(name: "WWW-Authenticate", value: "Bearer")
            } else if services.requiresUser(hub: hub), outcome.identity?.userID == nil {
                // An `[Authorize]` hub (the conformance `authHub`) with no user.
                response = HTTPResponse(status: .unauthorized)
                response.headers.add(name: "WWW-Authenticate", value: "Bearer")
            } else {
                response = answer(request, hub: hub, credentials: credentials, services: services)
            }
            cors.decorate(&response.headers, for: request.head)
            return response
        }
    }

    private static func answer(
        _ request: HTTPRequest, hub: String, credentials: ClientCredentials, services: SignalRServices
    ) -> HTTPResponse {
        let version: Int
        do throws(SignalRWireError) {
            version = try SignalRNegotiateResponse.version(requested: request.query["negotiateVersion"]?.first)
        } catch {
            return .json(.badRequest) { SignalRNegotiateResponse.writeError(error.message, into: &$0) }
        }
        let bus = services.bus
        // With an engine, the token names this instance: a long poll or POST for it on another instance
        // is forwarded here (SessionForwarder).
        let forwarder = services.forwarder
        let connectionID =
            version >= 1 ? bus.makeIdentifier() : forwarder?.sessionID(bus.makeIdentifier()) ?? bus.makeIdentifier()
        let random = bus.makeIdentifier() + bus.makeIdentifier()
        let token = version >= 1 ? forwarder?.sessionID(random) ?? random : connectionID
        // Stateful reconnect needs the token a version 1 negotiate gives (ASP.NET Core grants it only then).
        let stateful =
            version >= 1 && services.configuration.statefulReconnect
            && request.query["useStatefulReconnect"]?.first?.lowercased() == "true"
        services.remember(
            token: token,
            SignalRServices.Negotiated(
                connectionID: connectionID, credentials: credentials, hub: hub,
                expiresAt: bus.clock() + UInt64(services.configuration.negotiateTokenSeconds) * 1_000_000_000,
                statefulReconnect: stateful))
        let negotiation = SignalRNegotiateResponse(
            connectionID: connectionID, connectionToken: token, negotiateVersion: version,
            transports: [.webSockets, .serverSentEvents, .longPolling], useStatefulReconnect: stateful)
        return .json { negotiation.write(into: &$0) }
    }
}

extension SignalRRoutes {
    /// signalrcore's test server's other routes, in conformance mode: `POST /users/authenticate` with the
    /// test user (`test`/`test`) answers the configured token, and `GET /health` says the server is up.
    static func registerConformance(into router: inout HTTPRouter.Builder, services: SignalRServices) {
        let token = services.configuration.conformanceToken
        router.add(.POST, "/users/authenticate") { request, loop in
            let body = try? request.body.withUnsafeReadableBytes { raw throws(JSONError) in try JSONParser.parse(raw) }
            guard body?["username"] == .string("test"), body?["password"] == .string("test") else {
                return loop.makeSucceededFuture(
                    .json(.badRequest) { $0.writeStaticString("{\"message\":\"Username or password is incorrect\"}") })
            }
            return loop.makeSucceededFuture(
                .json {
                    $0.writeStaticString(
                        "{\"id\":1,\"firstName\":\"Test\",\"lastName\":\"User\",\"username\":\"test\",\"token\":")
                    $0.writeJSONString(token)
                    $0.writeStaticString("}")
                })
        }
        router.add(.GET, "/health") { _, loop in
            loop.makeSucceededFuture(HTTPResponse(status: .ok, body: ByteBuffer(string: "Healthy")))
        }
    }
}
