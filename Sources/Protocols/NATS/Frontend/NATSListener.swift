package import FrontendKit
package import Logging
import NATSWire
package import NIOCore

extension NATSServices {
    /// The NATS port (4222) as a service of the server's group.
    package func makeListener(
        group: any EventLoopGroup, logger: Logger, onBound: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) -> TCPListenerService {
        let configuration = self.configuration
        return TCPListenerService(
            configuration: TCPListenerConfiguration(
                name: "NATS", host: configuration.host, port: configuration.port,
                maxOutboundBytes: configuration.limits.maxPending),
            group: group, logger: logger, onBound: onBound
        ) { channel in
            try channel.pipeline.syncOperations.addHandler(NATSConnectionHandler(services: self, tls: self.tls))
        }
    }
}
