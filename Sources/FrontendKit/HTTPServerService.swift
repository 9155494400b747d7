package import Logging
package import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import ServiceLifecycle

/// Limits and headers of the HTTP listener.
package struct HTTPServerConfiguration: Sendable {
    package var host: String
    package var port: Int
    /// Largest request body; larger ones get 413.
    package var maxBodyBytes: Int
    /// Outbound bytes queued per connection before a WebSocket subscriber counts as slow (high
    /// watermark); writability returns at half of it.
    package var maxOutboundBytes: Int
    /// When set, the port speaks HTTPS (and WSS for its WebSocket endpoints).
    package var tls: ServerTLS?
    /// How long a new connection has to send a whole request head, and how long a keep-alive connection
    /// may then sit idle between requests, before it is closed (`limits.http_request_timeout_seconds`,
    /// `limits.http_keep_alive_seconds`): a client trickling header bytes (slowloris) or holding
    /// connections open without requests cannot pin descriptors.
    package var timeouts: HTTPServerHandler.Timeouts

    package init(
        host: String, port: Int, maxBodyBytes: Int = 1 << 20, maxOutboundBytes: Int = 1 << 20, tls: ServerTLS? = nil,
        timeouts: HTTPServerHandler.Timeouts = HTTPServerHandler.Timeouts()
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.maxOutboundBytes = maxOutboundBytes
        self.tls = tls
        self.timeouts = timeouts
    }
}

/// The HTTP port: routes, and WebSocket endpoints upgraded from it. Runs as a `Service` until graceful
/// shutdown, then stops accepting, runs `onShutdown` (which closes WebSockets with 1001) and returns.
package final class HTTPServerService: Service, Sendable {
    private let configuration: HTTPServerConfiguration
    private let group: any EventLoopGroup
    private let router: HTTPRouter
    private let endpoints: [any WebSocketEndpoint]
    private let logger: Logger
    private let onBound: @Sendable (SocketAddress) -> Void
    private let onShutdown: @Sendable () async -> Void

    package init(
        configuration: HTTPServerConfiguration, group: any EventLoopGroup, router: HTTPRouter,
        endpoints: [any WebSocketEndpoint], logger: Logger,
        onBound: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        onShutdown: @escaping @Sendable () async -> Void = {}
    ) {
        self.configuration = configuration
        self.group = group
        self.router = router
        self.endpoints = endpoints
        self.logger = logger
        self.onBound = onBound
        self.onShutdown = onShutdown
    }

    package func run() async throws {
        let channel = try await bind()
        if let address = channel.localAddress { onBound(address) }
        logger.info(
            configuration.tls == nil ? "HTTP listening" : "HTTPS listening",
            metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        // Graceful shutdown (SIGTERM/SIGINT) and cancellation both stop accepting.
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
        await onShutdown()
    }

    private func bind() async throws -> any Channel {
        let router = self.router
        let endpoints = self.endpoints
        let configuration = self.configuration
        return try await ServerBootstrap.forClients(group: group, maxOutboundBytes: configuration.maxOutboundBytes)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try HTTPServerService.configure(
                        channel, router: router, endpoints: endpoints, configuration: configuration)
                }
            }
            .bind(host: configuration.host, port: configuration.port).get()
    }

    package static func configure(
        _ channel: any Channel, router: HTTPRouter, endpoints: [any WebSocketEndpoint],
        configuration: HTTPServerConfiguration
    ) throws {
        let upgrader = WebSocketUpgrader(endpoints: endpoints)
        let httpHandler = HTTPServerHandler(
            router: router, maxBodyBytes: configuration.maxBodyBytes, upgrader: upgrader,
            timeouts: configuration.timeouts)
        if let tls = configuration.tls {
            try channel.pipeline.syncOperations.addHandler(tls.makeHandler())
            try channel.pipeline.syncOperations.addHandler(TLSPlaintextEntry())
        }
        let boundHandler = NIOLoopBound(httpHandler, eventLoop: channel.eventLoop)
        // No pipelining handler and no error handler from NIO: `HTTPServerHandler` orders pipelined requests
        // and answers a malformed one in its turn (see there).
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: false,
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    context.pipeline.syncOperations.removeHandler(boundHandler.value, promise: nil)
                }
            ),
            withErrorHandling: false)
        try channel.pipeline.syncOperations.addHandler(httpHandler)
    }
}

extension HTTPRouter.Builder {
    /// Answers requests to WebSocket paths that were not upgraded: with the endpoint's refusal (bad
    /// subprotocol, origin, connection limit) or 426 saying an upgrade was expected.
    package mutating func addWebSocketRefusals(_ endpoints: [any WebSocketEndpoint]) {
        // `/` is the status page for plain requests: an upgrade there that fails negotiation gets the page.
        for endpoint in endpoints where endpoint.path != "/" && !endpoint.answersPlainRequests {
            add(.GET, endpoint.path) { request, loop in
                let isUpgrade = request.head.headers[canonicalForm: "Upgrade"].contains {
                    $0.lowercased() == "websocket"
                }
                guard isUpgrade else {
                    var response = HTTPResponse.error(
                        APIError(.upgradeRequired, "bad_request", "\(endpoint.path) expects a WebSocket upgrade"))
                    response.headers.add(name: "Upgrade", value: "websocket")  // RFC 7231 §6.5.15
                    return loop.makeSucceededFuture(response)
                }
                if case .refuse(let response) = endpoint.negotiate(request.head, remoteAddress: request.remoteAddress) {
                    endpoint.recordRefusal()
                    return loop.makeSucceededFuture(response)
                }
                return loop.makeSucceededFuture(.error(.badRequest("malformed WebSocket upgrade request")))
            }
        }
    }
}
