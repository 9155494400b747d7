package import FrontendKit

/// The native WebSocket protocol at `/ws` on the HTTP port (docs/protocols/websocket.md).
package struct NativeWSServerFrontend: Frontend {
    package static let name = "websocket"
    package static let summary = "The native WebSocket protocol (switchboard.v1) at /ws on the HTTP port."

    private let endpoint: NativeWSEndpoint

    package init(settings: NativeWSConfiguration, context: FrontendContext) throws {
        var configuration = settings
        let limits = context.limits
        configuration.maxFrameBytes = limits.maxFrameBytes
        configuration.maxSubscriptions = limits.maxSubscriptionsPerConnection
        configuration.pingIntervalSeconds = limits.pingIntervalSeconds
        configuration.pongTimeoutSeconds = limits.pongTimeoutSeconds
        configuration.connectTimeoutSeconds = limits.connectTimeoutSeconds
        configuration.maxRPCTimeoutMilliseconds = limits.rpcMaxTimeoutMilliseconds
        configuration.defaultRPCTimeoutMilliseconds = min(
            configuration.defaultRPCTimeoutMilliseconds, limits.rpcMaxTimeoutMilliseconds)
        configuration.slowConsumerPolicy = limits.slowConsumer
        configuration.congestionBounds = .pastHighWaterMark(limits.maxOutboundBytes)
        configuration.origins = context.origins
        self.endpoint = NativeWSEndpoint(
            configuration: configuration, bus: context.bus, connections: context.connections,
            authenticator: context.authenticator, keepAlive: context.keepAlive)
    }

    package var webSocketEndpoints: [any WebSocketEndpoint] { [endpoint] }
}
