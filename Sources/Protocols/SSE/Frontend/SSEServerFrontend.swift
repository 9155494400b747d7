package import FrontendKit

/// Server-Sent Events, PocketBase-style realtime and long polling, on the HTTP port: `/sse`,
/// `/api/realtime`, `/poll` (docs/protocols/sse.md).
package struct SSEServerFrontend: Frontend {
    package static let name = "sse"
    package static let summary =
        "Server-Sent Events, realtime and long polling on the HTTP port: /sse, /api/realtime, /poll."

    package let services: SSEServices

    package init(settings: SSEConfiguration, context: FrontendContext) throws {
        var configuration = settings
        configuration.origins = settings.allowedOrigins.map { OriginPolicy(allowed: $0) } ?? context.origins
        configuration.maxRealtimeSubscriptions = context.limits.maxSubscriptionsPerConnection
        configuration.slowConsumerPolicy = context.limits.slowConsumer
        configuration.congestionBounds = .pastHighWaterMark(context.limits.maxOutboundBytes)
        self.services = SSEServices(
            configuration: configuration, bus: context.bus, connections: context.connections,
            authenticator: context.authenticator, keepAlive: context.keepAlive)
    }

    package func registerRoutes(into router: inout HTTPRouter.Builder) {
        SSERoutes(services: services).register(into: &router)
    }
}
