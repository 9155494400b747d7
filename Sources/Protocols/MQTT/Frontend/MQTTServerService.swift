import BusCore
import BusRuntime
package import Logging
package import NIOCore
import NIOPosix
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
        let channel = try await bind(port: port)
        if let address = channel.localAddress { onBound(address) }
        logger.info("MQTT listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }

    private func bind(port: Int) async throws -> any Channel {
        let services = self.services
        let configuration = services.configuration
        let watermark = ChannelOptions.Types.WriteBufferWaterMark(
            low: configuration.maxOutboundBytes / 2, high: configuration.maxOutboundBytes)
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: watermark)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // Small idle receive buffers (see HTTPServerService): an idle MQTT connection reads PINGREQs.
            .childChannelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65_536)
            )
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        MQTTConnectionHandler(services: services, transport: "tcp"))
                }
            }
            .bind(host: configuration.host, port: port).get()
    }
}
