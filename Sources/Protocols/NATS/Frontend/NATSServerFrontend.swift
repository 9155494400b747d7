import BusRuntime
package import FrontendKit
import NATSWire
import NIOCore
import NIOHTTP1
package import ServiceLifecycle
package import Storage

/// The NATS frontend: the client port (4222), `/nats` and `/` over WebSocket on the HTTP port, the
/// optional monitoring port (`nats.monitor_port`, nats-server's `-m`) and lame-duck mode (SIGUSR2,
/// `POST /api/nats/lame_duck`).
package struct NATSServerFrontend: Frontend {
    package static let name = "nats"
    package static let summary =
        "NATS client protocol: TCP port (TLS in place with nats.tls), /nats and / over WebSocket, monitoring port (nats.monitor_port)."
    package static let defaultPort: Int? = 4222
    /// TLS is negotiated in place on the one port (`nats.tls`), not on a second one.
    package static let offersTLSPort = false

    package let services: NATSServices
    private let context: FrontendContext
    private let listeners: [any Service]
    package let lameDuck: NATSLameDuckService
    /// nil without `monitor_port`.
    package let monitor: NATSMonitor?

    package init(settings: NATSConfiguration, context: FrontendContext) throws {
        if settings.tlsRequired && context.tls == nil {
            throw FrontendSettingError("nats.tls needs a certificate: add the tls section (cert_file, key_file)")
        }
        if let user = settings.noAuthUser, context.authenticator.identity(ofUser: user, clientID: nil) == nil {
            throw FrontendSettingError("nats.no_auth_user \"\(user)\" is not a user of the security section")
        }
        self.context = context
        let services = NATSServices(
            configuration: settings, bus: context.bus, connections: context.connections,
            authenticator: context.authenticator, tls: settings.tlsRequired ? context.tls : nil,
            tlsVerify: context.tls?.requiresClientCertificate ?? false, keepAlive: context.keepAlive,
            host: context.host)
        self.services = services
        self.listeners = context.listeners(label: "NATS", maxOutboundBytes: services.softPendingLimit) {
            channel, _ in
            try channel.pipeline.syncOperations.addHandler(NATSConnectionHandler(services: services, tls: services.tls))
        }
        self.lameDuck = NATSLameDuckService(
            services: services, listeners: listeners.compactMap { $0 as? TCPListenerService }, logger: context.logger)
        let addresses = context.addresses
        let name = context.name
        self.monitor = settings.monitorPort.map { _ in
            NATSMonitor(
                services: services, maxConnections: context.limits.maxConnections,
                threads: context.bus.shards.count, monitorHost: context.host,
                clientPort: { addresses[name]?.port ?? 0 }, monitorPort: { addresses[name + "-monitor"]?.port ?? 0 })
        }
    }

    /// Durable JetStream consumers and stream settings come back once the streams did (push consumers
    /// and republishing start again without waiting for a request).
    package func restore(_ state: StoredState) throws -> String? {
        guard let restored = services.jetStream.restoreConsumersIfNeeded() else { return nil }
        return "JetStream: \(restored.consumers) durable consumers, \(restored.streams) streams' settings"
    }

    package func makeServices() -> [any Service] {
        var services = listeners + [lameDuck]
        if let monitor, let port = self.services.configuration.monitorPort {
            var router = HTTPRouter.Builder()
            monitor.register(into: &router)
            let addresses = context.addresses
            let name = context.name + "-monitor"
            services.append(
                HTTPServerService(
                    configuration: HTTPServerConfiguration(
                        host: context.host, port: port, timeouts: context.limits.httpTimeouts),
                    group: context.group,
                    router: router.build(), endpoints: [], logger: context.logger,
                    onBound: { addresses.record(name, $0) }))
        }
        return services
    }

    package var webSocketEndpoints: [any WebSocketEndpoint] {
        [
            NATSWebSocketEndpoint(path: "/nats", services: services, origins: context.origins),
            // A bare ws://host:8080 (what clients of nats-server's WebSocket port are configured with).
            NATSWebSocketEndpoint(path: "/", services: services, origins: context.origins),
        ]
    }

    package func registerRoutes(into router: inout HTTPRouter.Builder) {
        let lameDuck = self.lameDuck
        // Lame-duck mode without a signal (containers where SIGUSR2 is awkward to send).
        router.addAdmin(
            .POST, "/api/nats/lame_duck",
            { _, loop in
                let started = lameDuck.request()
                return loop.makeSucceededFuture(
                    .json(.accepted) {
                        $0.writeString(started ? #"{"lame_duck":"entering"}"# : #"{"lame_duck":"already"}"#)
                    })
            })
    }
}
