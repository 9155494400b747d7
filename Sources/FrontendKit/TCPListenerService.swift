package import Logging
import NIOConcurrencyHelpers
package import NIOCore
package import NIOPosix
import ServiceLifecycle

/// Where a protocol listens and how much it may queue per connection.
package struct TCPListenerConfiguration: Sendable {
    /// Shown in logs: "NATS", "MQTT" …
    package var name: String
    package var host: String
    package var port: Int
    /// Outbound bytes queued per connection before the channel turns unwritable (the protocol's slow
    /// consumer bound); writability returns at half of it.
    package var maxOutboundBytes: Int
    /// When set, every connection starts with a TLS handshake (MQTT 8883 and the like).
    package var tls: ServerTLS?

    package init(name: String, host: String, port: Int, maxOutboundBytes: Int, tls: ServerTLS? = nil) {
        self.name = name
        self.host = host
        self.port = port
        self.maxOutboundBytes = maxOutboundBytes
        self.tls = tls
    }
}

/// A protocol's own TCP port (MQTT 1883, NATS 4222 …): accepts connections and gives each the
/// pipeline `initializeChild` builds. Runs as a `Service` until graceful shutdown, then stops accepting;
/// open connections are closed through the connection registry, with every other protocol's.
package final class TCPListenerService: Service, Sendable {
    private let configuration: TCPListenerConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let initializeChild: @Sendable (any Channel) throws -> Void
    private let onBound: @Sendable (SocketAddress) -> Void
    /// The listening channel while bound; `stopped` once `stopAccepting` closed it.
    private let listening = NIOLockedValueBox<(channel: (any Channel)?, stopped: Bool)>((nil, false))

    package init(
        configuration: TCPListenerConfiguration, group: any EventLoopGroup, logger: Logger,
        onBound: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        initializeChild: @escaping @Sendable (any Channel) throws -> Void
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.onBound = onBound
        self.initializeChild = initializeChild
    }

    package func run() async throws {
        let channel = try await bind()
        let stoppedAlready = listening.withLockedValue { state in
            state.channel = channel
            return state.stopped
        }
        if stoppedAlready { channel.close(promise: nil) }
        if let address = channel.localAddress { onBound(address) }
        logger.info(
            "\(configuration.name) listening",
            metadata: [
                "address": "\(channel.localAddress.map { "\($0)" } ?? "?")",
                "tls": "\(configuration.tls != nil)",
            ])
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
        // Stopped on purpose (lame-duck mode): the rest of the server runs on until it shuts down, and a
        // service that returns early would end the whole group.
        if listening.withLockedValue({ $0.stopped }) {
            logger.info("\(configuration.name) stopped accepting")
            try? await gracefulShutdown()
        }
    }

    /// Closes the listening socket (new connections are refused by the kernel); connections already
    /// accepted stay. The service keeps running until the server shuts down. Idempotent.
    /// Closes the listening socket; the future completes once it is closed (nil when it never opened).
    @discardableResult
    package func stopAccepting() -> EventLoopFuture<Void>? {
        let channel = listening.withLockedValue { state -> (any Channel)? in
            state.stopped = true
            return state.channel
        }
        return channel?.close()
    }

    private func bind() async throws -> any Channel {
        let initializeChild = self.initializeChild
        let tls = configuration.tls
        return try await ServerBootstrap.forClients(group: group, maxOutboundBytes: configuration.maxOutboundBytes)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(tls.makeHandler()) }
                    try initializeChild(channel)
                }
            }
            .bind(host: configuration.host, port: configuration.port).get()
    }
}

extension ServerBootstrap {
    /// The options every client-facing port shares: a deep accept backlog, no Nagle, the outbound bound
    /// as the write watermark (writability returns at half), and small receive buffers while idle. NIO
    /// starts a channel's receive buffer at 2 KiB, which was most of an idle connection's memory; reads
    /// that fill it make the adaptive allocator double it on the spot, up to 64 KiB. The allocator is our
    /// own, which NIO stores inline (`ConnectionReceiveAllocator`).
    package static func forClients(group: any EventLoopGroup, maxOutboundBytes: Int) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(
                .writeBufferWaterMark, value: .init(low: maxOutboundBytes / 2, high: maxOutboundBytes)
            )
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(
                .recvAllocator, value: ConnectionReceiveAllocator(minimum: 64, initial: 256, maximum: 65_536))
    }
}
