package import FrontendKit

/// Socket.IO v4 (Engine.IO v4 + Socket.IO protocol v5) at `/socket.io/` on the HTTP port: long
/// polling, WebSocket and the upgrade between them, namespaces, acks, binary attachments and connection
/// state recovery (docs/protocols/socketio.md).
package struct SocketIOServerFrontend: Frontend {
    package static let name = "socketio"
    package static let summary = "Socket.IO v4 (Engine.IO v4 polling + WebSocket) at /socket.io/ on the HTTP port."

    private let services: SocketIOServices

    package init(settings: SocketIOConfiguration, context: FrontendContext) throws {
        var configuration = settings
        let limits = context.limits
        configuration.maxSubscriptions = limits.maxSubscriptionsPerConnection
        configuration.maxRPCTimeoutMilliseconds = limits.rpcMaxTimeoutMilliseconds
        configuration.defaultRPCTimeoutMilliseconds = min(
            configuration.defaultRPCTimeoutMilliseconds, limits.rpcMaxTimeoutMilliseconds)
        configuration.slowConsumerPolicy = limits.slowConsumer
        configuration.congestionBounds = .pastHighWaterMark(limits.maxOutboundBytes)
        configuration.origins = context.origins
        self.services = SocketIOServices(
            configuration: configuration, bus: context.bus, connections: context.connections,
            authenticator: context.authenticator, keepAlive: context.keepAlive, forwarder: context.forwarder)
    }

    /// The conformance suites' Engine.IO echo server lives at `/engine.io/` in conformance mode.
    static let engineIOEchoPath = "/engine.io/"

    package var webSocketEndpoints: [any WebSocketEndpoint] {
        var endpoints: [any WebSocketEndpoint] = [
            SocketIOEndpoint(path: services.configuration.path, services: services)
        ]
        if services.configuration.conformanceMode {
            endpoints.append(
                SocketIOEndpoint(path: Self.engineIOEchoPath, services: services, echoesEngineIO: true))
        }
        return endpoints
    }

    package func registerRoutes(into router: inout HTTPRouter.Builder) {
        SocketIORoutes.register(
            into: &router, path: services.configuration.path, services: services, echoesEngineIO: false)
        if services.configuration.conformanceMode {
            SocketIORoutes.register(
                into: &router, path: Self.engineIOEchoPath, services: services, echoesEngineIO: true)
        }
    }
}
