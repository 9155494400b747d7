import BusCore
import BusRuntime
package import FrontendKit
package import NIOCore
package import NIOHTTP1
import SocketIOWire

/// The HTTP long-polling transport of Engine.IO v4: `GET` opens a session (no `sid`) or waits for its
/// packets, `POST` carries the client's packets, `OPTIONS` answers CORS preflights. A request may arrive
/// on any event loop: the session is found by `sid` and the work hops to its loop.
package enum SocketIORoutes {
    static func register(
        into router: inout HTTPRouter.Builder, path: String, services: SocketIOServices, echoesEngineIO: Bool
    ) {
        router.add(.GET, path) { request, loop in
            poll(request, loop: loop, services: services, echoesEngineIO: echoesEngineIO)
        }
        router.add(.POST, path) { request, loop in
            post(request, loop: loop, services: services)
        }
        router.add(.PUT, path) { request, loop in
            loop.makeSucceededFuture(errorResponse(.badHandshakeMethod, head: request.head, services: services))
        }
        router.add(.OPTIONS, path) { request, loop in
            loop.makeSucceededFuture(
                SocketIORoutes.cors(services).preflight(request.head, methods: "GET, POST, OPTIONS"))
        }
    }

    private static func cors(_ services: SocketIOServices) -> HTTPCORS {
        HTTPCORS(origins: services.configuration.origins)
    }

    /// The Engine.IO error a request's query earns (`EIO` must be 4, `transport` the one expected).
    static func queryError(_ request: HTTPRequest, transport expected: String) -> EngineIOHTTPError? {
        guard request.query("EIO") == "4" else { return .unsupportedProtocolVersion }
        guard let transport = request.query("transport"), transport == "polling" || transport == "websocket" else {
            return .unknownTransport
        }
        return transport == expected ? nil : .badRequest
    }

    /// `{"code":N,"message":"…"}` with the error's status, as the reference server answers.
    static func errorResponse(_ error: EngineIOHTTPError, head: HTTPRequestHead, services: SocketIOServices)
        -> HTTPResponse
    {
        var body = ByteBuffer(string: "{\"code\":")
        body.writeDecimal(error.rawValue)
        body.writeStaticString(",\"message\":")
        body.writeJSONString(error.message)
        body.writeStaticString("}")
        var response = HTTPResponse(status: HTTPResponseStatus(statusCode: error.status), body: body)
        response.headers.add(name: "Content-Type", value: "application/json")
        cors(services).decorate(&response.headers, for: head)
        return response
    }

    private static func text(_ body: ByteBuffer, head: HTTPRequestHead, services: SocketIOServices) -> HTTPResponse {
        var response = HTTPResponse(status: .ok, body: body)
        response.headers.add(name: "Content-Type", value: "text/plain; charset=UTF-8")
        response.headers.add(name: "Cache-Control", value: "no-store")
        cors(services).decorate(&response.headers, for: head)
        return response
    }

    private static func poll(
        _ request: HTTPRequest, loop: any EventLoop, services: SocketIOServices, echoesEngineIO: Bool
    ) -> EventLoopFuture<HTTPResponse> {
        let head = request.head
        if let spliced = upgradeElsewhere(request, loop: loop, services: services) { return spliced }
        if let error = queryError(request, transport: "polling") {
            return loop.makeSucceededFuture(errorResponse(error, head: head, services: services))
        }
        if let refusal = cors(services).refusal(head) { return loop.makeSucceededFuture(refusal) }
        guard let sid = request.query("sid") else {
            return handshake(request, loop: loop, services: services, echoesEngineIO: echoesEngineIO)
        }
        guard let session = services.registry.session(sid) else {
            return elsewhere(request, sid: sid, loop: loop, services: services)
        }
        let closeFuture = request.closeFuture
        return session.eventLoop.flatSubmit { session.pollReceived(closeFuture: closeFuture) }.hop(to: loop).map {
            body in
            guard let body else { return errorResponse(.badRequest, head: head, services: services) }
            return text(body, head: head, services: services)
        }
    }

    /// A session this instance does not hold: forwarded to the instance its id names (with an engine),
    /// else — or when that instance is gone — Engine.IO's 400 "Session ID unknown".
    private static func elsewhere(_ request: HTTPRequest, sid: String, loop: any EventLoop, services: SocketIOServices)
        -> EventLoopFuture<HTTPResponse>
    {
        let head = request.head
        guard let forwarder = services.forwarder, let owner = forwarder.owner(of: sid, request) else {
            return loop.makeSucceededFuture(errorResponse(.unknownSessionID, head: head, services: services))
        }
        return forwarder.forward(request, to: owner, on: loop).map {
            $0 ?? errorResponse(.unknownSessionID, head: head, services: services)
        }
    }

    /// The WebSocket upgrade (`transport=websocket&sid=…`) of a session another instance holds (with an
    /// engine; `SocketIOEndpoint.negotiate` refused it here): the connection is spliced to that instance,
    /// which upgrades it and moves the session onto it as the Engine.IO upgrade does. That instance gone:
    /// 400 "Session ID unknown" — the upgrade fails and the client goes on polling, where the same answer
    /// ends the session and a stock client connects again. Nil for any other request.
    private static func upgradeElsewhere(_ request: HTTPRequest, loop: any EventLoop, services: SocketIOServices)
        -> EventLoopFuture<HTTPResponse>?
    {
        guard request.head.headers[canonicalForm: "Upgrade"].contains(where: { $0.lowercased() == "websocket" }),
            request.query("transport") == "websocket", let sid = request.query("sid"),
            services.registry.session(sid) == nil, let forwarder = services.forwarder,
            let owner = forwarder.owner(of: sid, request)
        else { return nil }
        let head = request.head
        return forwarder.tunnel(request, to: owner, on: loop).map {
            $0 ?? errorResponse(.unknownSessionID, head: head, services: services)
        }
    }

    private static func handshake(
        _ request: HTTPRequest, loop: any EventLoop, services: SocketIOServices, echoesEngineIO: Bool
    ) -> EventLoopFuture<HTTPResponse> {
        if let refusal = services.connections.httpRefusal(remoteAddress: request.remoteAddress) {
            return loop.makeSucceededFuture(.error(refusal))
        }
        let random = services.bus.makeIdentifier() + services.bus.makeIdentifier()
        let session = SocketIOSession(
            sid: services.forwarder?.sessionID(random) ?? random, services: services, eventLoop: loop,
            echoesEngineIO: echoesEngineIO, credentials: request.head.clientCredentials,
            remoteAddress: request.remoteAddress)
        guard session.start(on: .polling) else {
            return loop.makeSucceededFuture(errorResponse(.forbidden, head: request.head, services: services))
        }
        return session.pollReceived(closeFuture: nil).map { body in
            guard let body else { return errorResponse(.badRequest, head: request.head, services: services) }
            return text(body, head: request.head, services: services)
        }
    }

    private static func post(_ request: HTTPRequest, loop: any EventLoop, services: SocketIOServices)
        -> EventLoopFuture<HTTPResponse>
    {
        let head = request.head
        if let error = queryError(request, transport: "polling") {
            return loop.makeSucceededFuture(errorResponse(error, head: head, services: services))
        }
        guard let sid = request.query("sid") else {
            return loop.makeSucceededFuture(errorResponse(.badHandshakeMethod, head: head, services: services))
        }
        guard let session = services.registry.session(sid) else {
            return elsewhere(request, sid: sid, loop: loop, services: services)
        }
        guard request.body.readableBytes <= services.configuration.maxPayload else {
            // Engine.IO: a payload over maxPayload closes the session (HTTP 413 as the reference server).
            session.eventLoop.execute { session.close(.protocolError) }
            return loop.makeSucceededFuture(HTTPResponse(status: .payloadTooLarge))
        }
        let body = request.body
        // The answer waits while a subscriber the POST's publishes feed is behind (publisher flow control).
        return session.eventLoop.flatSubmit {
            session.postReceived(body)
                ? session.postAnswered().map { true } : session.eventLoop.makeSucceededFuture(false)
        }.hop(to: loop).map { accepted in
            guard accepted else { return errorResponse(.badRequest, head: head, services: services) }
            var response = HTTPResponse(status: .ok, body: ByteBuffer(string: "ok"))
            response.headers.add(name: "Content-Type", value: "text/html")
            cors(services).decorate(&response.headers, for: head)
            return response
        }
    }
}
