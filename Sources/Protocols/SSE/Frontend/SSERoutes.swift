import BusCore
import BusRuntime
package import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import SSEWire

/// The browser-stream endpoints on the HTTP port (docs/protocols/sse.md): `GET /sse`,
/// `GET|POST /api/realtime`, `GET /poll`, and their CORS preflights.
package struct SSERoutes: Sendable {
    package let services: SSEServices

    package init(services: SSEServices) { self.services = services }

    package func register(into router: inout HTTPRouter.Builder) {
        let services = self.services
        for path in ["/sse", "/poll"] {
            router.add(.OPTIONS, path, sync: { services.cors.preflight($0.head, methods: "GET, OPTIONS") })
        }
        router.add(.OPTIONS, "/api/realtime", sync: { services.cors.preflight($0.head, methods: "GET, POST, OPTIONS") })
        router.add(.GET, "/sse") { request, loop in
            SSERoutes.answer(request, services, on: loop) {
                try SSERoutes.stream(request, loop, services, realtime: false)
            }
        }
        router.add(.GET, "/api/realtime") { request, loop in
            SSERoutes.answer(request, services, on: loop) {
                try SSERoutes.stream(request, loop, services, realtime: true)
            }
        }
        router.add(.POST, "/api/realtime") { request, loop in
            SSERoutes.answer(request, services, on: loop) { try SSERoutes.setSubscriptions(request, loop, services) }
        }
        router.add(.GET, "/poll") { request, loop in
            SSERoutes.answer(request, services, on: loop) { try SSERoutes.poll(request, loop, services) }
        }
    }

    /// `answer`, once the request's password (HTTP Basic), if any, has been checked off the loop.
    static func answer(
        _ request: HTTPRequest, _ services: SSEServices, on loop: any EventLoop,
        _ body: @escaping () throws -> EventLoopFuture<HTTPResponse>
    ) -> EventLoopFuture<HTTPResponse> {
        let credentials = request.head.headers.clientCredentials(query: request.query("token"), clientID: nil)
        guard let preparing = services.authenticator.prepare(credentials, on: loop) else {
            return answer(on: loop, body)
        }
        return preparing.flatMap { answer(on: loop, body) }
    }

    /// Runs a route body; thrown refusals become their responses (400/401/403/503 JSON errors).
    static func answer(on loop: any EventLoop, _ body: () throws -> EventLoopFuture<HTTPResponse>)
        -> EventLoopFuture<HTTPResponse>
    {
        do {
            return try body()
        } catch let refusal as RefusalError {
            return loop.makeSucceededFuture(refusal.response)
        } catch let error as APIError {
            return loop.makeSucceededFuture(.error(error))
        } catch let error as SSERequestError {
            return loop.makeSucceededFuture(.error(.badRequest(error.message)))
        } catch {
            return loop.makeSucceededFuture(.error(APIError(.internalServerError, "internal", "\(error)")))
        }
    }

    // MARK: - Shared checks

    /// Origin, credentials, permissions on `channels` and the connection limit, in that order; the
    /// connection as the registry will list it.
    static func admit(
        _ request: HTTPRequest, services: SSEServices, protocolName: String, channels: [TopicFilter]
    ) throws -> ConnectionInfo {
        try admitIdentity(request, services: services, protocolName: protocolName, channels: channels).info
    }

    /// `admit`, with the identity (its token expiry ends a stream).
    static func admitIdentity(
        _ request: HTTPRequest, services: SSEServices, protocolName: String, channels: [TopicFilter]
    ) throws -> (info: ConnectionInfo, identity: ClientIdentity) {
        if let refusal = services.cors.refusal(request.head) {
            services.counters.countRefused()
            throw RefusalError(response: refusal)
        }
        var info = ConnectionInfo(
            id: services.bus.makeIdentifier(), protocolName: protocolName,
            remoteAddress: request.remoteAddress.map(describe), connectedAt: Double(services.bus.clock()) / 1e9)
        let identity = try authenticate(request, services: services, clientID: info.id)
        info.userID = identity.userID
        try authorize(channels, identity: identity, services: services)
        if let refusal = services.connections.httpRefusal(remoteAddress: request.remoteAddress) {
            services.counters.countRefused()
            throw refusal
        }
        return (info, identity)
    }

    /// The request's identity, or 401.
    static func authenticate(_ request: HTTPRequest, services: SSEServices, clientID: String?) throws
        -> ClientIdentity
    {
        var credentials = request.head.headers.clientCredentials(query: request.query("token"), clientID: clientID)
        credentials.certificateSubject = request.clientCertificateName
        switch services.authenticator.authenticate(credentials) {
        case .refused(let reason):
            services.counters.countRefused()
            services.counters.countAuthenticationFailure()
            throw APIError.unauthorized(reason)
        case .accepted(let identity):
            return identity
        }
    }

    /// 403 naming the first channel the identity may not subscribe to.
    static func authorize(_ channels: [TopicFilter], identity: ClientIdentity, services: SSEServices) throws {
        for channel in channels where !identity.permissions.maySubscribe(channel) {
            services.counters.countPermissionDenied()
            throw APIError.forbidden("not allowed to subscribe to \(channel.text)")
        }
    }

    static func describe(_ address: SocketAddress) -> String {
        if let ip = address.ipAddress, let port = address.port {
            return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }
        return "\(address)"
    }

    /// A refusal that already is a response (the CORS 403).
    struct RefusalError: Error {
        var response: HTTPResponse
    }

    // MARK: - Streams

    static func stream(_ request: HTTPRequest, _ loop: any EventLoop, _ services: SSEServices, realtime: Bool) throws
        -> EventLoopFuture<HTTPResponse>
    {
        let mode: SSEStreamHandler.Mode
        var filter = SSEMessageFilter()
        let configuration = services.configuration
        var channels: [TopicFilter] = []
        if realtime {
            mode = .realtime
        } else {
            let parsed = try SSEStreamRequest.parse(
                query: request.query, lastEventID: request.head.headers.first(name: "Last-Event-ID"),
                topicLimits: services.bus.configuration.topicLimits, limits: configuration.limits,
                coveredByStream: { [bus = services.bus] in bus.streams.covering($0) != nil })
            filter = parsed.filter
            channels = parsed.channels
            mode = .stream(parsed)
        }
        let (info, identity) = try admitIdentity(
            request, services: services, protocolName: realtime ? "realtime" : "sse", channels: channels)
        let handler = SSEStreamHandler(
            services: services, mode: mode, info: info, identity: identity, filter: filter, eventLoop: loop)
        var headers = HTTPHeaders()
        // WHATWG HTML §9.2.2: the stream's MIME type; no caching, and no buffering by proxies (nginx's
        // X-Accel-Buffering) so every event leaves at once.
        headers.add(name: "Content-Type", value: "text/event-stream; charset=utf-8")
        headers.add(name: "Cache-Control", value: "no-cache, no-store")
        headers.add(name: "X-Accel-Buffering", value: "no")
        headers.add(name: "X-Switchboard-Connection", value: info.id)
        services.cors.decorate(&headers, for: request.head)
        let response = HTTPResponse(status: .ok, headers: headers, stream: handler)
        return afterSharedHistory(of: channels, services: services, on: loop) { loop.makeSucceededFuture(response) }
    }

    /// `body`'s answer, once the concrete channels' logs are in step with the log the instances share (with
    /// an engine: docs/redis.md, "History across instances"), so the positions a client is given and resumes
    /// from are the same on every instance; at once without one.
    static func afterSharedHistory(
        of channels: [TopicFilter], services: SSEServices, on loop: any EventLoop,
        _ body: @escaping () -> EventLoopFuture<HTTPResponse>
    ) -> EventLoopFuture<HTTPResponse> {
        guard services.bus.engine != nil else { return body() }
        let topics = channels.filter(SSEStreamRequest.isPositioned).map { Topic(trusted: $0.pattern) }
        let promise = loop.makePromise(of: HTTPResponse.self)
        if !services.bus.refreshingHistory(of: topics, on: loop, then: { promise.completeWith(body()) }) {
            promise.completeWith(body())
        }
        return promise.futureResult
    }
}
