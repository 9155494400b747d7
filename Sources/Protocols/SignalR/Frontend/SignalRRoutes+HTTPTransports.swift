import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOHTTP1
import SignalRWire

/// The HTTP transports' requests on `<hub>?id=<connectionToken>` (TransportProtocols.md): a `GET` with
/// `Accept: text/event-stream` opens the Server-Sent Events stream, any other `GET` is a long poll (the
/// first one makes the connection), `POST` carries the client's messages, `DELETE` ends a long-polling
/// connection. A request may arrive on any loop: the connection is found by its token and the work hops
/// to the connection's loop. Errors carry ASP.NET Core's statuses and texts: 400 without `id`, 404 for
/// a token that names no connection (never issued, expired, or ended).
extension SignalRRoutes {
    static func registerTransports(into router: inout HTTPRouter.Builder, hub: String, services: SignalRServices) {
        let path = services.configuration.pathPrefix + hub
        router.add(.GET, path) { request, loop in receive(request, hub: hub, loop: loop, services: services) }
        router.add(.POST, path) { request, loop in send(request, hub: hub, loop: loop, services: services) }
        router.add(.DELETE, path) { request, loop in delete(request, loop: loop, services: services) }
        router.add(.OPTIONS, path) { request, loop in
            loop.makeSucceededFuture(
                HTTPCORS(origins: services.configuration.origins).preflight(
                    request.head, methods: "GET, POST, DELETE, OPTIONS"))
        }
    }

    private static func plain(
        _ status: HTTPResponseStatus, _ text: String, _ request: HTTPRequest, services: SignalRServices
    ) -> HTTPResponse {
        var response = HTTPResponse(status: status, body: ByteBuffer(string: text))
        if !text.isEmpty { response.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
        HTTPCORS(origins: services.configuration.origins).decorate(&response.headers, for: request.head)
        return response
    }

    /// The request's connection token, or the 400 (or 403 for a refused origin) it earns.
    private static func token(_ request: HTTPRequest, services: SignalRServices) -> Result<String, HTTPResponseBox> {
        guard services.configuration.origins.permits(request.head) else {
            return .failure(HTTPResponseBox(plain(.forbidden, "Origin not allowed", request, services: services)))
        }
        guard let token = request.query("id"), !token.isEmpty else {
            return .failure(HTTPResponseBox(plain(.badRequest, "Connection ID required", request, services: services)))
        }
        return .success(token)
    }

    private static func receive(
        _ request: HTTPRequest, hub: String, loop: any EventLoop, services: SignalRServices
    ) -> EventLoopFuture<HTTPResponse> {
        if request.head.headers[canonicalForm: "Upgrade"].contains(where: { $0.lowercased() == "websocket" }) {
            // Another instance's connection (a first WebSocket after a negotiate there, or a stateful
            // reconnect): spliced to it.
            if let token = request.query("id"), services.configuration.origins.permits(request.head),
                let spliced = elsewhere(request, token: token, loop: loop, services: services)
            {
                return spliced
            }
            // A WebSocket upgrade that was not accepted: the endpoint's refusal (401, 403, 404), as on
            // paths that serve WebSockets only.
            let endpoint = SignalREndpoint(hub: hub, services: services)
            if case .refuse(let response) = endpoint.negotiate(request.head, remoteAddress: request.remoteAddress) {
                endpoint.recordRefusal()
                return loop.makeSucceededFuture(response)
            }
            return loop.makeSucceededFuture(.error(.badRequest("malformed WebSocket upgrade request")))
        }
        let token: String
        switch self.token(request, services: services) {
        case .success(let value): token = value
        case .failure(let box): return loop.makeSucceededFuture(box.response)
        }
        if let forwarded = elsewhere(request, token: token, loop: loop, services: services) { return forwarded }
        if let connection = services.httpConnection(token: token) {
            let closeFuture = request.closeFuture
            return connection.eventLoop.flatSubmit { connection.poll(closeFuture: closeFuture) }.hop(to: loop).map {
                pollResponse($0, request, services: services)
            }
        }
        let wantsEvents = request.head.headers[canonicalForm: "Accept"].contains {
            $0.lowercased().contains("text/event-stream")
        }
        let connection: SignalRConnectionHandler
        switch makeConnection(request, token: token, hub: hub, events: wantsEvents, loop: loop, services: services) {
        case .success(let made): connection = made
        case .failure(let box): return loop.makeSucceededFuture(box.response)
        }
        guard wantsEvents else {
            return connection.poll(closeFuture: request.closeFuture).map {
                pollResponse($0, request, services: services)
            }
        }
        var response = HTTPResponse(status: .ok, stream: connection)
        response.headers.add(name: "Content-Type", value: "text/event-stream")
        response.headers.add(name: "Cache-Control", value: "no-cache")
        // Proxies that buffer responses (nginx) would hold the events back.
        response.headers.add(name: "X-Accel-Buffering", value: "no")
        HTTPCORS(origins: services.configuration.origins).decorate(&response.headers, for: request.head)
        return loop.makeSucceededFuture(response)
    }

    /// The connection a negotiated token's first request makes: on Server-Sent Events for an event-stream
    /// GET, else long polling — also when the first request is a POST (signalrcore's long-polling client
    /// sends its handshake before its first poll; ASP.NET Core accepts it). It lives on that request's loop.
    private static func makeConnection(
        _ request: HTTPRequest, token: String, hub: String, events: Bool, loop: any EventLoop,
        services: SignalRServices
    ) -> Result<SignalRConnectionHandler, HTTPResponseBox> {
        if let refusal = services.connections.httpRefusal(remoteAddress: request.remoteAddress) {
            return .failure(HTTPResponseBox(.error(refusal)))
        }
        guard let negotiated = services.take(token: token, hub: hub) else {
            return .failure(
                HTTPResponseBox(plain(.notFound, "No Connection with that ID", request, services: services)))
        }
        var credentials = credentials(request.head, query: request.query)
        if credentials.isEmpty { credentials = negotiated.credentials }
        credentials.certificateSubject = request.clientCertificateName
        if case .refused(let reason) = services.authenticator.authenticate(credentials) {
            services.counters.countAuthenticationFailure()
            var response = plain(.unauthorized, reason, request, services: services)
            response.headers.add(name: "WWW-Authenticate", value: "Bearer")
            return .failure(HTTPResponseBox(response))
        }
        let connection = SignalRConnectionHandler(
            services: services, connectionID: negotiated.connectionID, credentials: credentials,
            outbound: events ? .serverSentEvents(nil) : .longPolling(SignalRLongPoll(now: loop.now)),
            token: token, eventLoop: loop, hub: hub)
        guard connection.startOverHTTP(remoteAddress: request.remoteAddress) else {
            return .failure(
                HTTPResponseBox(
                    plain(.serviceUnavailable, "The server has no room for the connection", request, services: services)
                ))
        }
        return .success(connection)
    }

    /// A request for a connection another instance negotiated (its token names it, with an engine); nil
    /// when the token is this instance's. A long poll, POST or DELETE is forwarded there and its answer
    /// relayed; a WebSocket (also a stateful reconnect) or a Server-Sent Events stream, which never end as
    /// one answer, have the connection spliced to that instance (`SessionForwarder.tunnel`). That instance
    /// gone: 404 "No Connection with that ID", ASP.NET Core's answer for a token it does not know (the
    /// clients then negotiate again, or report the connection closed).
    private static func elsewhere(
        _ request: HTTPRequest, token: String, loop: any EventLoop, services: SignalRServices
    ) -> EventLoopFuture<HTTPResponse>? {
        guard let forwarder = services.forwarder, let owner = forwarder.owner(of: token, request) else { return nil }
        let notFound = plain(.notFound, "No Connection with that ID", request, services: services)
        let headers = request.head.headers
        let wantsEvents = headers[canonicalForm: "Accept"].contains { $0.lowercased().contains("text/event-stream") }
        let upgrades = headers[canonicalForm: "Upgrade"].contains { $0.lowercased() == "websocket" }
        if request.head.method == .GET && (wantsEvents || upgrades) {
            return forwarder.tunnel(request, to: owner, on: loop).map { $0 ?? notFound }
        }
        return forwarder.forward(request, to: owner, on: loop).map { $0 ?? notFound }
    }

    private static func pollResponse(
        _ answer: SignalRPollAnswer, _ request: HTTPRequest, services: SignalRServices
    ) -> HTTPResponse {
        var response: HTTPResponse
        switch answer {
        case .messages(let body):
            response = HTTPResponse(status: .ok, body: body)
            response.headers.add(name: "Content-Type", value: "application/octet-stream")
        case .empty:
            response = HTTPResponse(status: .ok)
            response.headers.add(name: "Content-Type", value: "application/octet-stream")
        case .ended:
            response = HTTPResponse(status: .noContent)
        case .notPolling:
            return plain(
                .conflict, "Another request is already receiving for this connection", request, services: services)
        }
        response.headers.add(name: "Cache-Control", value: "no-store")
        HTTPCORS(origins: services.configuration.origins).decorate(&response.headers, for: request.head)
        return response
    }

    private static func send(_ request: HTTPRequest, hub: String, loop: any EventLoop, services: SignalRServices)
        -> EventLoopFuture<HTTPResponse>
    {
        let token: String
        switch self.token(request, services: services) {
        case .success(let value): token = value
        case .failure(let box): return loop.makeSucceededFuture(box.response)
        }
        if let forwarded = elsewhere(request, token: token, loop: loop, services: services) { return forwarded }
        let connection: SignalRConnectionHandler
        if let registered = services.httpConnection(token: token) {
            connection = registered
        } else {
            switch makeConnection(request, token: token, hub: hub, events: false, loop: loop, services: services) {
            case .success(let made): connection = made
            case .failure(let box): return loop.makeSucceededFuture(box.response)
            }
        }
        let body = request.body
        // The answer waits while a subscriber the POST's publishes feed is behind (publisher flow control).
        return connection.eventLoop.flatSubmit {
            connection.received(body)
                ? connection.postAnswered().map { true } : connection.eventLoop.makeSucceededFuture(false)
        }.hop(to: loop).map { accepted in
            accepted
                ? plain(.ok, "", request, services: services)
                : plain(.notFound, "No Connection with that ID", request, services: services)
        }
    }

    private static func delete(_ request: HTTPRequest, loop: any EventLoop, services: SignalRServices)
        -> EventLoopFuture<HTTPResponse>
    {
        let token: String
        switch self.token(request, services: services) {
        case .success(let value): token = value
        case .failure(let box): return loop.makeSucceededFuture(box.response)
        }
        if let forwarded = elsewhere(request, token: token, loop: loop, services: services) { return forwarded }
        guard let connection = services.httpConnection(token: token) else {
            return loop.makeSucceededFuture(plain(.notFound, "No Connection with that ID", request, services: services))
        }
        return connection.eventLoop.submit { connection.deleteRequested() }.hop(to: loop).map { ended in
            ended
                ? plain(.accepted, "", request, services: services)
                : plain(
                    .badRequest, "Cannot terminate this connection using the DELETE endpoint.", request,
                    services: services)
        }
    }
}

/// An early answer carried through `Result`'s failure side.
struct HTTPResponseBox: Error {
    let response: HTTPResponse
    init(_ response: HTTPResponse) { self.response = response }
}
