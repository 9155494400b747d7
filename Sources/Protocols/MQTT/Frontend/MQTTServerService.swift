import BusCore
import BusRuntime
import FrontendKit
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

    package init(
        services: MQTTServices, group: any EventLoopGroup, logger: Logger,
        onBound: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.services = services
        self.group = group
        self.logger = logger
        self.onBound = onBound
    }

    package func run() async throws {
        let statistics = MQTTSystemTopics(services: services).start()
        defer { statistics?.cancel() }
        guard let port = services.configuration.port else {
            try await gracefulShutdown()
            return
        }
        let services = self.services
        let configuration = services.configuration
        let listener = TCPListenerService(
            configuration: TCPListenerConfiguration(
                name: "MQTT", host: configuration.host, port: port, maxOutboundBytes: configuration.maxOutboundBytes),
            group: group, logger: logger, onBound: onBound
        ) { channel in
            try channel.pipeline.syncOperations.addHandler(MQTTConnectionHandler(services: services, transport: "tcp"))
        }
        try await listener.run()
    }
}
