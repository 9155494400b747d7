import Atomics
import BusCore
package import BusRuntime
import Foundation
package import FrontendKit
package import Logging
import MQTTFrontend
import Metrics
import NATSFrontend
import NIOConcurrencyHelpers
package import NIOCore
import NIOHTTP1
package import NIOPosix
import NativeWebSocketFrontend
import Prometheus
import SSEFrontend
import ServiceLifecycle
package import Storage
import UnixSignals

/// The whole server: event loops, the bus, every frontend, the HTTP API and metrics, run as one
/// `ServiceGroup` that shuts down gracefully on SIGTERM/SIGINT.
package final class SwitchboardServer: Sendable {
    package let configuration: ServerConfiguration
    package let group: MultiThreadedEventLoopGroup
    package let bus: Bus
    package let connections: ConnectionRegistry
    private let logger: Logger
    private let ready = ManagedAtomic(false)
    private let boundAddress = LockedAddress()
    private let natsAddress = LockedAddress()
    private let prometheus: PrometheusCollectorRegistry
    /// Retained messages (MQTT), shared by every frontend that reads "current values".
    package let retained: RetainedMessageStore
    private let mqtt: MQTTServices
    /// Shared by the NATS port and `/nats`; nil when NATS is off.
    private let nats: NATSServices?
    /// Durable state (see `openStore`); closed after the services stop.
    package let store: any Store
    /// Who may connect and what they may do; the TLS context of the TLS listeners.
    private let security: ServerSecurity

    /// Builds the server and takes back what `store` kept (durable logs, retained messages); a memory
    /// store when none is given. `security` defaults to static tokens without TLS; `switchboard serve`
    /// passes `ServerSecurity.load`.
    package init(
        configuration: ServerConfiguration, logger: Logger, store: (any Store)? = nil, security: ServerSecurity? = nil
    ) throws {
        let security = security ?? .basic(configuration)
        self.security = security
        self.configuration = configuration
        self.logger = logger
        let store = store ?? MemoryStore()
        self.store = store
        self.prometheus = MetricsBootstrap.registry
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        let loops = Array(group.makeIterator())
        self.bus = Bus(
            eventLoops: loops,
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: configuration.history),
                presence: PresencePolicy(filters: configuration.presence),
                maxRPCTimeoutMilliseconds: Int64(configuration.limits.rpcMaxTimeoutMilliseconds),
                maxHistoryTopics: configuration.limits.maxHistoryTopics),
            store: store)
        self.connections = ConnectionRegistry(
            limits: ConnectionLimits(
                maxConnections: configuration.limits.maxConnections,
                maxConnectionsPerAddress: configuration.limits.maxConnectionsPerAddress,
                maxConnectsPerSecond: configuration.limits.maxConnectsPerSecond))
        self.retained = RetainedMessageStore(store: store)
        self.mqtt = MQTTServices(
            bus: bus, connections: connections,
            authenticator: security.authenticator, configuration: configuration.mqttWithHost, retained: retained,
            store: store)
        var natsConfiguration = configuration.nats
        natsConfiguration.host = configuration.host
        self.nats =
            configuration.natsEnabled
            ? NATSServices(
                configuration: natsConfiguration, bus: bus, connections: connections,
                authenticator: security.authenticator,
                tls: configuration.tls?.nats == true ? security.tls : nil,
                tlsVerify: configuration.tls?.require_client_cert ?? false) : nil
        try restore()
    }

    /// Startup recovery: bounded by what the store keeps (its retention), logged with counts and time.
    private func restore() throws {
        let start = DispatchTime.now().uptimeNanoseconds
        let state = try store.load()
        let logs = bus.restoreHistory(state.logs)
        retained.restore(state.retained)
        let sessions = try mqtt.restore(state)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        logger.info(
            "storage: restored \(logs.logs) durable logs (\(logs.messages) messages, \(logs.reset) reset to a new epoch, \(logs.ignored) no longer durable), \(state.retained.count) retained messages in \(String(format: "%.1f", elapsed)) ms; MQTT: \(sessions.sessions) persistent sessions (\(sessions.inflight) in flight, \(sessions.queued) queued, \(sessions.expired) expired while down), \(sessions.messagesKept) logged messages"
        )
    }

    /// The HTTP port actually bound (useful with port 0).
    package var httpAddress: SocketAddress? { boundAddress.value }
    /// The NATS port actually bound (useful with port 0); nil while not listening.
    package var natsBoundAddress: SocketAddress? { natsAddress.value }

    /// Runs until SIGTERM/SIGINT (or until the surrounding task is cancelled), then shuts down.
    package func run(handleSignals: Bool = true) async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: makeHTTPService())]
        services += makeTLSServices().map { .init(service: $0) }
        if let nats {
            let natsAddress = self.natsAddress
            services.append(.init(service: nats.makeListener(group: group, logger: logger) { natsAddress.value = $0 }))
        }
        services.append(.init(service: MQTTServerService(services: mqtt, group: group, logger: logger)))
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
                logger: logger))
        bus.startMetricsReporting()
        bus.startStorageHousekeeping()
        let trimming = mqtt.startMessageLogTrimming()
        defer { for task in trimming { task.cancel() } }
        if security.authenticator.allowsAnonymous {
            logger.notice("anonymous access is ON: any client may connect without credentials")
        } else {
            logger.info("anonymous access is off: clients must authenticate")
        }
        try await serviceGroup.run()
        try await group.shutdownGracefully()
        store.close()
    }

    private var authenticator: any Authenticator { security.authenticator }

    private func makeHTTPService(tls: ServerTLS? = nil, port: Int? = nil) -> HTTPServerService {
        let limits = configuration.limits
        var wsConfiguration = NativeWSConfiguration()
        wsConfiguration.maxFrameBytes = limits.maxFrameBytes
        wsConfiguration.maxSubscriptions = limits.maxSubscriptionsPerConnection
        wsConfiguration.pingIntervalSeconds = limits.pingIntervalSeconds
        wsConfiguration.pongTimeoutSeconds = limits.pongTimeoutSeconds
        wsConfiguration.connectTimeoutSeconds = limits.connectTimeoutSeconds
        wsConfiguration.maxRPCTimeoutMilliseconds = limits.rpcMaxTimeoutMilliseconds
        wsConfiguration.slowConsumerPolicy = limits.slowConsumer
        wsConfiguration.origins = OriginPolicy(allowed: configuration.allowedOrigins)
        var endpoints: [any WebSocketEndpoint] = [
            NativeWSEndpoint(
                configuration: wsConfiguration, bus: bus, connections: connections, authenticator: authenticator)
        ]
        endpoints.append(MQTTWebSocketEndpoint(services: mqtt, origins: wsConfiguration.origins))
        if let nats {
            let origins = OriginPolicy(allowed: configuration.allowedOrigins)
            endpoints.append(NATSWebSocketEndpoint(path: "/nats", services: nats, origins: origins))
            // A bare ws://host:8080 (what clients of nats-server's WebSocket port are configured with).
            endpoints.append(NATSWebSocketEndpoint(path: "/", services: nats, origins: origins))
        }
        if let path = configuration.webSocketEchoPath {
            // Autobahn's fuzzing client sends messages up to 16 MiB.
            endpoints.append(WebSocketEchoEndpoint(path: path, maxFrameSize: 16 << 20))
        }

        var router = HTTPRouter.Builder()
        router.addWebSocketRefusals(endpoints)
        APIRoutes(
            bus: bus, connections: connections, apiKey: configuration.apiKey, authenticator: authenticator,
            metricsSlot: bus.metrics.slot(for: "http")
        )
        .register(into: &router)
        SSERoutes(services: makeSSEServices(authenticator: authenticator)).register(into: &router)
        let ready = self.ready
        let prometheus = self.prometheus
        router.add(.GET, "/healthz", sync: { _ in .json { $0.writeStaticString("{\"status\":\"ok\"}") } })
        router.add(
            .GET, "/readyz",
            sync: { _ in
                ready.load(ordering: .relaxed)
                    ? .json { $0.writeStaticString("{\"status\":\"ready\"}") }
                    : .json(.serviceUnavailable) { $0.writeStaticString("{\"status\":\"not ready\"}") }
            })
        router.add(
            .GET, "/metrics",
            sync: { _ in
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "text/plain; version=0.0.4")
                return HTTPResponse(status: .ok, headers: headers, body: ByteBuffer(bytes: prometheus.emitToBuffer()))
            })
        router.add(
            .GET, "/",
            sync: { _ in
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
                return HTTPResponse(status: .ok, headers: headers, body: ByteBuffer(string: DashboardPage.html))
            })

        let connections = self.connections
        let boundAddress = self.boundAddress
        let logger = self.logger
        return HTTPServerService(
            configuration: HTTPServerConfiguration(
                host: configuration.host, port: port ?? configuration.httpPort, maxBodyBytes: limits.maxBodyBytes,
                maxOutboundBytes: limits.maxOutboundBytes, tls: tls),
            group: group, router: router.build(), endpoints: endpoints, logger: logger,
            onBound: { address in
                // The HTTPS port is extra: readiness and `httpAddress` follow the plain HTTP port.
                guard tls == nil else { return }
                boundAddress.value = address
                ready.store(true, ordering: .relaxed)
            },
            onShutdown: {
                guard tls == nil else { return }
                ready.store(false, ordering: .relaxed)
                logger.info("shutting down: closing connections", metadata: ["connections": "\(connections.count)"])
                connections.closeAll(reason: .shutdown)
                // Give close handshakes a moment, bounded.
                for _ in 0..<20 where connections.count > 0 {
                    try? await Task.sleep(for: .milliseconds(50))
                }
            })
    }
}

extension SwitchboardServer {
    /// The TLS listeners `tls` asks for: HTTPS/WSS on `https_port`, MQTT on `mqtt_port` (the NATS port
    /// upgrades in place, the NATS way).
    fileprivate func makeTLSServices() -> [any Service] {
        guard let tls = security.tls, let settings = configuration.tls else { return [] }
        var services: [any Service] = []
        if let port = settings.https_port { services.append(makeHTTPService(tls: tls, port: port)) }
        if let port = settings.mqtt_port {
            services.append(
                MQTTServerService(services: mqtt, group: group, logger: logger, tls: tls, port: port))
        }
        return services
    }

    fileprivate func makeSSEServices(authenticator: any Authenticator) -> SSEServices {
        let settings = configuration.sse
        var sse = SSEConfiguration()
        sse.keepAliveSeconds = settings.keepAliveSeconds
        sse.retryMilliseconds = settings.retryMilliseconds
        sse.pollDefaultTimeoutSeconds = settings.pollDefaultTimeoutSeconds
        sse.pollMaxTimeoutSeconds = settings.pollMaxTimeoutSeconds
        sse.realtimeInactivitySeconds = settings.realtimeInactivitySeconds
        sse.maxRealtimeSubscriptions = configuration.limits.maxSubscriptionsPerConnection
        sse.origins = OriginPolicy(allowed: settings.allowedOrigins ?? configuration.allowedOrigins)
        sse.slowConsumerPolicy = configuration.limits.slowConsumer
        return SSEServices(configuration: sse, bus: bus, connections: connections, authenticator: authenticator)
    }
}

/// Bootstraps swift-metrics with Prometheus once per process.
enum MetricsBootstrap {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}

/// A lock-protected optional address.
final class LockedAddress: Sendable {
    private let box = NIOLockedValueBox<SocketAddress?>(nil)
    var value: SocketAddress? {
        get { box.withLockedValue { $0 } }
        set { box.withLockedValue { $0 = newValue } }
    }
}
