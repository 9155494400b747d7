package import FrontendKit
import NIOCore
package import ServiceLifecycle

/// The STOMP frontend: the STOMP port (61613), its TLS twin (`stomp.tls_port`, 61614 by convention) and
/// `/stomp` over WebSocket; `/topic/` is the bus, `/queue/` the queue broker AMQP shares.
package struct STOMPServerFrontend: Frontend {
    package static let name = "stomp"
    package static let summary =
        "STOMP 1.0-1.2 (RabbitMQ's destinations): TCP port, TLS port (tls_port), /stomp over WebSocket."
    package static let defaultPort: Int? = 61613

    package let services: STOMPServices
    private let context: FrontendContext

    package init(settings: STOMPConfiguration, context: FrontendContext) throws {
        self.context = context
        self.services = STOMPServices(
            configuration: settings, bus: context.bus, connections: context.connections,
            authenticator: context.authenticator, broker: context.broker, keepAlive: context.keepAlive)
    }

    package func makeServices() -> [any Service] {
        let services = self.services
        return context.listeners(label: "STOMP", maxOutboundBytes: services.softPendingLimit) {
            channel, _ in
            try channel.pipeline.syncOperations.addHandler(STOMPConnectionHandler(services: services))
        }
    }

    package var webSocketEndpoints: [any WebSocketEndpoint] {
        [STOMPWebSocketEndpoint(services: services, origins: context.origins)]
    }
}
