package import FrontendKit
import NATSWire
import NIOCore
package import ServiceLifecycle

/// The NATS frontend: the client port (4222), and `/nats` and `/` over WebSocket on the HTTP port.
package struct NATSServerFrontend: Frontend {
    package static let name = "nats"
    package static let summary =
        "NATS client protocol: TCP port (TLS in place with nats.tls), /nats and / over WebSocket."
    package static let defaultPort: Int? = 4222
    /// TLS is negotiated in place on the one port (`nats.tls`), not on a second one.
    package static let offersTLSPort = false

    package let services: NATSServices
    private let context: FrontendContext

    package init(settings: NATSConfiguration, context: FrontendContext) throws {
        if settings.tlsRequired && context.tls == nil {
            throw FrontendSettingError("nats.tls needs a certificate: add the tls section (cert_file, key_file)")
        }
        self.context = context
        self.services = NATSServices(
            configuration: settings, bus: context.bus, connections: context.connections,
            authenticator: context.authenticator, tls: settings.tlsRequired ? context.tls : nil,
            tlsVerify: context.tls?.requiresClientCertificate ?? false, keepAlive: context.keepAlive,
            host: context.host)
    }

    package func makeServices() -> [any Service] {
        let services = self.services
        return context.listeners(label: "NATS", maxOutboundBytes: services.configuration.limits.maxPending) {
            channel, _ in
            try channel.pipeline.syncOperations.addHandler(NATSConnectionHandler(services: services, tls: services.tls))
        }
    }

    package var webSocketEndpoints: [any WebSocketEndpoint] {
        [
            NATSWebSocketEndpoint(path: "/nats", services: services, origins: context.origins),
            // A bare ws://host:8080 (what clients of nats-server's WebSocket port are configured with).
            NATSWebSocketEndpoint(path: "/", services: services, origins: context.origins),
        ]
    }
}
