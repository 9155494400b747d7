import BusCore
import BusRuntime
package import FrontendKit
package import Logging
package import NIOCore
import ServiceLifecycle

/// The MQTT TCP listener (1883 by default) as a `Service` of the server's group: accepts until graceful
/// shutdown, then stops; the HTTP service's shutdown closes every registered connection (DISCONNECT 0x8B).
/// Also publishes the `$SYS/` statistics while it runs.
package final class MQTTServerService: Service, Sendable {
    package let services: MQTTServices
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onBound: @Sendable (SocketAddress) -> Void
    /// TLS on this listener (MQTT over TLS, 8883 by convention); then `port` is its port and the
    /// `$SYS/` statistics are left to the plain listener's service.
    private let tls: ServerTLS?
    private let tlsPort: Int?

    package init(
        services: MQTTServices, group: any EventLoopGroup, logger: Logger, tls: ServerTLS? = nil, port: Int? = nil,
        onBound: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.tls = tls
        self.tlsPort = tls == nil ? nil : port
        self.services = services
        self.group = group
        self.logger = logger
        self.onBound = onBound
    }

    package func run() async throws {
        let statistics = tls == nil ? MQTTSystemTopics(services: services).start() : nil
        defer { statistics?.cancel() }
        guard let port = tls == nil ? services.configuration.port : tlsPort else {
            try await gracefulShutdown()
            return
        }
        let services = self.services
        let configuration = services.configuration
        let listener = TCPListenerService(
            configuration: TCPListenerConfiguration(
                name: tls == nil ? "MQTT" : "MQTT (TLS)", host: configuration.host, port: port,
                maxOutboundBytes: configuration.maxOutboundBytes, tls: tls),
            group: group, logger: logger, onBound: onBound
        ) { channel in
            try channel.pipeline.syncOperations.addHandler(MQTTConnectionHandler(services: services, transport: "tcp"))
        }
        try await listener.run()
    }
}
