package import FrontendKit

/// SignalR (ASP.NET Core's hub protocol) at `/hubs/<hub>` on the HTTP port: negotiate, the WebSocket,
/// Server-Sent Events and long-polling transports, the JSON and MessagePack hub protocols, and the hub's methods over the bus
/// (docs/protocols/signalr.md).
package struct SignalRServerFrontend: Frontend {
    package static let name = "signalr"
    package static let summary =
        "SignalR hubs (JSON and MessagePack; WebSockets, Server-Sent Events, long polling) at /hubs/<hub> on the HTTP port."

    private let services: SignalRServices

    package init(settings: SignalRConfiguration, context: FrontendContext) throws {
        var configuration = settings
        configuration.maxSubscriptions = context.limits.maxSubscriptionsPerConnection
        configuration.slowConsumerPolicy = context.limits.slowConsumer
        configuration.congestionBounds = .pastHighWaterMark(context.limits.maxOutboundBytes)
        configuration.origins = context.origins
        if configuration.conformanceMode {
            configuration.hubs = (configuration.hubs ?? []) + SignalRConformance.hubs
        }
        self.services = SignalRServices(
            configuration: configuration, bus: context.bus, connections: context.connections,
            authenticator: context.authenticator, keepAlive: context.keepAlive, forwarder: context.forwarder)
    }

    package var webSocketEndpoints: [any WebSocketEndpoint] {
        (services.configuration.hubs ?? []).map { SignalREndpoint(hub: $0, services: services) }
    }

    package func registerRoutes(into router: inout HTTPRouter.Builder) {
        SignalRRoutes.register(into: &router, services: services)
        if services.configuration.conformanceMode {
            SignalRRoutes.registerConformance(into: &router, services: services)
        }
    }
}
