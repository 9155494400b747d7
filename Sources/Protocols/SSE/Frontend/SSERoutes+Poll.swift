import BusCore
import BusRuntime
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import SSEWire

extension SSERoutes {
    /// `GET /poll?channel=…&cursor=…&timeout=…` (docs/protocols/sse.md §4).
    static func poll(_ request: HTTPRequest, _ loop: any EventLoop, _ services: SSEServices) throws
        -> EventLoopFuture<HTTPResponse>
    {
        // Parse before admitting: a bad request is a 400 whatever the connection count.
        let configuration = services.configuration
        let parsed = try SSEPollRequest.parse(
            query: request.query, ifNoneMatch: request.head.headers.first(name: "If-None-Match"),
            defaultTimeoutSeconds: configuration.pollDefaultTimeoutSeconds,
            maxTimeoutSeconds: configuration.pollMaxTimeoutSeconds,
            topicLimits: services.bus.configuration.topicLimits, limits: configuration.limits,
            coveredByStream: { [bus = services.bus] in bus.streams.covering($0) != nil })
        let (info, identity) = try admitIdentity(
            request, services: services, protocolName: "poll", channels: parsed.channels)
        var headers = HTTPHeaders()
        services.cors.decorate(&headers, for: request.head)
        let waiter = SSEPollWaiter(
            services: services, request: parsed, info: info, options: identity.subscriptionOptions(), headers: headers,
            eventLoop: loop)
        return afterSharedHistory(of: parsed.channels, services: services, on: loop) {
            waiter.start(closeFuture: request.closeFuture)
        }
    }
}
