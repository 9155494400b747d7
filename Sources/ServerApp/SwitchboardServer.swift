import Atomics
import BusCore
package import BusRuntime
import Foundation
package import FrontendKit
package import Logging
import Metrics
import NIOConcurrencyHelpers
package import NIOCore
import NIOHTTP1
package import NIOPosix
import Prometheus
package import RedisBus
import RedisEngine
import ServiceLifecycle
package import Storage
import UnixSignals

/// The whole server: event loops, the bus, every frontend of `FrontendList`, the HTTP API and metrics,
/// run as one `ServiceGroup` that shuts down gracefully on SIGTERM/SIGINT.
package final class SwitchboardServer: Sendable {
    package let configuration: ServerConfiguration
    package let group: MultiThreadedEventLoopGroup
    package let bus: Bus
    /// Record collections and their change events (issue 20, docs/records.md).
    package var records: RecordCollections { bus.records }
    package let connections: ConnectionRegistry
    /// Collaboration sessions and consensus votes (issue 21, docs/collaboration.md).
    package let collaboration: CollaborationService
    /// Other instances joined through Redis (`--engine`, docs/redis.md); nil for one instance.
    package let engine: RedisBusEngine?
    /// With an engine: forwards polling sessions' requests between instances.
    package let forwarder: SessionForwarder?
    let logger: Logger
    private let ready = ManagedAtomic(false)
    /// Where each listener is bound (`http`, `https`, and each frontend's name and `name-tls`).
    package let addresses = BoundAddresses()
    private let prometheus: PrometheusCollectorRegistry
    /// With an engine: its gauges and counters, brought up to date at each `/metrics` scrape.
    private let engineMetrics: EngineMetrics?
    /// Retained messages (MQTT), shared by every frontend that reads "current values".
    package let retained: RetainedMessageStore
    /// One keep-alive sweeper per loop, for every protocol's connections.
    private let keepAlive: KeepAliveSweepers
    /// The queue brokers of the configured virtual hosts, shared by every protocol with queues (AMQP,
    /// STOMP).
    package let virtualHosts: VirtualHosts
    /// The queue broker of the virtual host `/`.
    package var broker: QueueBroker { virtualHosts.root }
    /// The enabled frontends, in `FrontendList` order.
    private let frontends: [any Frontend]
    /// Durable state (see `openStore`); closed after the services stop.
    package let store: any Store
    /// Who may connect and what they may do; the TLS context of the TLS listeners.
    private let security: ServerSecurity

    /// Builds the server and takes back what `store` kept (durable logs, retained messages, each
    /// frontend's own state); a memory store when none is given. `security` defaults to static tokens
    /// without TLS; `switchboard serve` passes `ServerSecurity.load`.
    package init(
        configuration: ServerConfiguration, logger: Logger, store: (any Store)? = nil, security: ServerSecurity? = nil
    ) throws {
        // Session membership is a rule input of every protocol's permission checks (issue 21).
        let sessions = SessionDirectory()
        var security = security ?? .basic(configuration)
        security.authenticator = SessionGatedAuthenticator(base: security.authenticator, directory: sessions)
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
                history: configuration.historyPolicy, presence: configuration.presencePolicy,
                maxRPCTimeoutMilliseconds: Int64(configuration.limits.rpcMaxTimeoutMilliseconds),
                maxHistoryTopics: configuration.limits.maxHistoryTopics, maxRecords: configuration.limits.maxRecords,
                payloadSchemas: configuration.payloadSchemas, maxHistoryBytes: configuration.limits.maxHistoryBytes,
                streamMemoryTailBytes: configuration.limits.streamMemoryTailBytes),
            store: store)
        self.connections = ConnectionRegistry(
            limits: ConnectionLimits(
                maxConnections: configuration.limits.maxConnections,
                maxConnectionsPerAddress: configuration.limits.maxConnectionsPerAddress,
                maxConnectsPerSecond: configuration.limits.maxConnectsPerSecond))
        let connections = self.connections
        // A loop whose backlog of another loop's deliveries passes its bound stops the publishers feeding it
        // being read, as a subscriber that falls behind does (docs/concurrency.md, "Publisher flow control").
        bus.setPublisherPausing { publisher, paused, pauser in
            connections.controller(publisher)?.publishingPaused(paused, by: pauser)
        }
        self.collaboration = CollaborationService(bus: bus, store: store, directory: sessions) { publisher in
            connections.identity(ofPublisher: publisher).map {
                CollaborationCaller(user: $0.userID, roles: $0.roles, isAdmin: $0.isAdmin)
            }
        }
        self.retained = RetainedMessageStore(store: store)
        if let url = configuration.engine {
            let connections = self.connections
            self.engine = RedisBusEngine(
                bus: bus, retained: retained, configuration: try RedisClientConfiguration(url: url),
                maxBacklogBytes: configuration.engineMaxBacklogBytes, logger: logger,
                remoteClaim: { connections.releaseClaim($0) }, connectionCount: { connections.count })
            self.engineMetrics = EngineMetrics()
        } else {
            self.engine = nil
            self.engineMetrics = nil
        }
        let addresses = self.addresses
        if let engine {
            let advertise = configuration.engineAdvertise
            self.forwarder = SessionForwarder(engine: engine, group: group, logger: logger) {
                SwitchboardServer.advertisedAddress(addresses["http"], advertise: advertise)
            }
        } else {
            self.forwarder = nil
        }
        self.keepAlive = KeepAliveSweepers(eventLoops: loops)
        self.virtualHosts = VirtualHosts(
            bus: bus, metricsSlot: bus.metrics.slot(for: "queues"), definitions: configuration.virtualHosts)
        let virtualHosts = self.virtualHosts
        var frontends: [any Frontend] = []
        for frontend in configuration.frontends where frontend.listener.enabled {
            if frontend.listener.tlsPort != nil && security.tls == nil {
                throw ConfigurationError("\(frontend.name).tls_port needs a certificate: add the tls section")
            }
            let context = FrontendContext(
                name: frontend.name, bus: bus, connections: connections, authenticator: security.authenticator,
                retained: retained, store: store, group: group, logger: logger, host: configuration.host,
                listener: frontend.listener, tls: security.tls,
                origins: OriginPolicy(allowed: configuration.allowedOrigins), limits: configuration.limits,
                keepAlive: keepAlive, addresses: addresses, virtualHosts: virtualHosts, forwarder: forwarder)
            do { frontends.append(try frontend.make(context: context)) } catch let error as FrontendSettingError {
                throw ConfigurationError("\(frontend.name): \(error)")
            }
        }
        self.frontends = frontends
        try restore()
    }

    /// Startup recovery: bounded by what the store keeps (its retention), logged with counts and time.
    private func restore() throws {
        let start = DispatchTime.now().uptimeNanoseconds
        // Streams come back as their index entries: each partition reads back only its memory tail's bodies.
        let state = try store.load(streamBodies: false)
        let logs = bus.restoreHistory(state.logs)
        retained.restore(state.retained)
        var queues = (exchanges: 0, queues: 0, messages: 0)
        for broker in virtualHosts.all {
            let restored = broker.restore(state)
            queues = (
                queues.exchanges + restored.exchanges, queues.queues + restored.queues,
                queues.messages + restored.messages
            )
        }
        let streams = try restoreStreams(state)
        let schemas = try restoreSchemas()
        let records = self.records.restore(
            collections: state.collections.filter { !CollaborationService.isCollaborationRow($0.name) },
            records: state.records.filter { !CollaborationService.isCollaborationRow($0.collection) })
        let sessions = collaboration.restore(
            state.records.filter { CollaborationService.isCollaborationRow($0.collection) })
        let declared = try restoreCollections()
        let lines =
            try frontends.compactMap { try $0.restore(state) }
            + [
                streams, schemas,
                "records: \(records.collections) collections, \(records.records) records"
                    + (records.skipped > 0 ? " (\(records.skipped) unreadable, left out)" : "") + ", " + declared,
                "collaboration: \(sessions.sessions) sessions, \(sessions.votes) votes"
                    + (sessions.skipped > 0 ? " (\(sessions.skipped) unreadable rows, left out)" : ""),
                "queues: \(queues.exchanges) durable exchanges, \(queues.queues) durable queues, \(queues.messages) persistent messages",
            ]
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        logger.info(
            "storage: restored \(logs.logs) durable logs (\(logs.messages) messages, \(logs.reset) reset to a new epoch, \(logs.ignored) no longer durable), \(state.retained.count) retained messages in \(String(format: "%.1f", elapsed)) ms\(lines.map { "; " + $0 }.joined())"
        )
    }

    /// Where the other instances reach this one's HTTP listener: `advertise` (`--engine-advertise`,
    /// already checked; without a port, the bound one), else the bound address, or this host's name when
    /// it is bound to every interface. Nil until the listener is bound.
    static func advertisedAddress(_ bound: SocketAddress?, advertise: String? = nil) -> String? {
        guard let bound, let port = bound.port else { return nil }
        if let advertise {
            let hasPort =
                advertise.hasPrefix("[") ? advertise.contains("]:") : advertise.contains(":")
            guard !hasPort else { return advertise }
            return "\(advertise):\(port)"
        }
        var host = bound.ipAddress ?? ""
        if host.isEmpty || host == "0.0.0.0" || host == "::" { host = ProcessInfo.processInfo.hostName }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The HTTP port actually bound (useful with port 0).
    package var httpAddress: SocketAddress? { addresses["http"] }
    /// The NATS port actually bound (useful with port 0); nil while not listening.
    package var natsBoundAddress: SocketAddress? { addresses["nats"] }

    /// Runs until SIGTERM/SIGINT (or until the surrounding task is cancelled), then shuts down. The
    /// group shuts services down in reverse order: the HTTP service first (it closes every connection of
    /// every protocol), then the listeners, then the periodic tasks and the keep-alive sweepers, so
    /// nothing is scheduled on a loop that has stopped.
    package func run(handleSignals: Bool = true) async throws {
        let bus = self.bus
        var services: [any Service] = [
            KeepAliveSweeperService(sweepers: keepAlive),
            PeriodicTaskService(name: "bus metrics", logger: logger) { bus.startMetricsReporting() },
            PeriodicTaskService(name: "storage housekeeping", logger: logger) { bus.startStorageHousekeeping() },
            PeriodicTaskService(name: "history eviction", logger: logger) { bus.startHistoryEviction() },
            PeriodicTaskService(name: "memory return", logger: logger) { [connections] in
                MemoryReturn.start(on: bus.shards[0].eventLoop) { connections.count }.map { [$0] } ?? []
            },
            PeriodicTaskService(name: "stream housekeeping", logger: logger) { bus.startStreamHousekeeping() },
            PeriodicTaskService(name: "collaboration", logger: logger) { [collaboration] in
                collaboration.start()
                return []
            },
            PeriodicTaskService(name: "queue metrics", logger: logger) { [virtualHosts] in
                virtualHosts.all.flatMap { $0.startDepthReporting(on: bus.shards[0].eventLoop) }
            },
        ]
        if let forwarder {
            services.append(
                PeriodicTaskService(name: "session forwarding", logger: logger) {
                    [forwarder.startAnnouncing(on: bus.shards[0].eventLoop)]
                })
        }
        services += frontends.flatMap { $0.makeServices() }
        services += makeTLSServices()
        services.append(makeHTTPService())
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
                logger: logger))
        if security.authenticator.allowsAnonymous {
            logger.notice("anonymous access is ON: any client may connect without credentials")
        } else {
            logger.info("anonymous access is off: clients must authenticate")
        }
        if let engine {
            do { try await engine.start().get() } catch {
                throw ConfigurationError(
                    "engine \(RedisClientConfiguration.redactedURL(configuration.engine ?? "")): \(error)")
            }
            connections.observeClaims { engine.claim($0) }
            logger.info("engine: joined through Redis as instance \(engine.instanceID)")
        }
        try await serviceGroup.run()
        if let engine { try? await engine.stop().get() }
        try await group.shutdownGracefully()
        store.close()
    }

    private var authenticator: any Authenticator { security.authenticator }

    private func makeHTTPService(tls: ServerTLS? = nil, port: Int? = nil) -> HTTPServerService {
        let limits = configuration.limits
        var endpoints = frontends.flatMap(\.webSocketEndpoints)
        if let path = configuration.webSocketEchoPath {
            // Autobahn's fuzzing client sends messages up to 16 MiB.
            endpoints.append(WebSocketEchoEndpoint(path: path, maxFrameSize: 16 << 20))
        }

        var router = HTTPRouter.Builder()
        router.addWebSocketRefusals(endpoints)
        // With an engine, the connection and channel lists answer for every instance (docs/redis.md).
        var cluster: APIClusterPeers?
        if let engine = self.engine, let forwarder = self.forwarder {
            cluster = APIClusterPeers(
                instanceID: engine.instanceID, peers: { engine.peerInstances }, forwarder: forwarder)
        }
        let api = APIRoutes(
            bus: bus, records: records, collaboration: collaboration, connections: connections,
            apiKey: configuration.apiKey,
            authenticator: authenticator, metricsSlot: bus.metrics.slot(for: "http"), cluster: cluster)
        api.register(into: &router)
        router.adminGuard = { api.guardAdmin($0) }
        // Pages of the allowed origins may call /api with a token or the key of their own (no credentials).
        router.apiOrigins = OriginPolicy(allowed: configuration.allowedOrigins)
        for frontend in frontends { frontend.registerRoutes(into: &router) }
        let ready = self.ready
        let prometheus = self.prometheus
        let engineMetrics = self.engineMetrics
        // A store whose last commit failed (database down, disk full) makes the server `degraded`: alive
        // (`/healthz` 200, so nothing restarts it for a database outage) but not ready (`/readyz` 503, so a
        // load balancer sends new clients elsewhere); both say why. It clears with the next good commit.
        // So does an engine that lost Redis: the instance serves its own clients, the others do not reach
        // them (docs/redis.md).
        let store = bus.store
        let engine = self.engine
        let degraded: @Sendable (HTTPResponseStatus) -> HTTPResponse? = { status in
            let storage = store?.statistics.degraded
            let joined = engine?.degradedReason
            guard storage != nil || joined != nil else { return nil }
            return .json(status) { body in
                body.writeStaticString("{\"status\":\"degraded\"")
                if let storage {
                    body.writeStaticString(",\"storage\":")
                    body.writeJSONString(storage)
                }
                if let joined {
                    body.writeStaticString(",\"engine\":")
                    body.writeJSONString(joined)
                }
                body.writeStaticString("}")
            }
        }
        router.add(
            .GET, "/healthz",
            sync: { _ in degraded(.ok) ?? .json { $0.writeStaticString("{\"status\":\"ok\"}") } })
        router.add(
            .GET, "/readyz",
            sync: { _ in
                guard ready.load(ordering: .relaxed) else {
                    return .json(.serviceUnavailable) { $0.writeStaticString("{\"status\":\"not ready\"}") }
                }
                return degraded(.serviceUnavailable) ?? .json { $0.writeStaticString("{\"status\":\"ready\"}") }
            })
        router.add(
            .GET, "/metrics",
            sync: { _ in
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "text/plain; version=0.0.4")
                if let engine, let engineMetrics { engineMetrics.report(engine.statistics) }
                return HTTPResponse(status: .ok, headers: headers, body: ByteBuffer(bytes: prometheus.emitToBuffer()))
            })
        // The dashboard at `/` and the browser SDK under `/sdk/` (Clients/js, embedded at build time).
        router.addClientAssets()

        let connections = self.connections
        let addresses = self.addresses
        let logger = self.logger
        return HTTPServerService(
            configuration: HTTPServerConfiguration(
                host: configuration.host, port: port ?? configuration.httpPort, maxBodyBytes: limits.maxBodyBytes,
                maxOutboundBytes: limits.maxOutboundBytes, tls: tls,
                timeouts: limits.httpTimeouts),
            group: group, router: router.build(), endpoints: endpoints, logger: logger,
            onBound: { address in
                // The HTTPS port is extra: readiness follows the plain HTTP port.
                addresses.record(tls == nil ? "http" : "https", address)
                guard tls == nil else { return }
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
    /// HTTPS/WSS on `tls.https_port` (each frontend's own TLS listener is its `tls_port`).
    fileprivate func makeTLSServices() -> [any Service] {
        guard let tls = security.tls, let port = configuration.tls?.https_port else { return [] }
        return [makeHTTPService(tls: tls, port: port)]
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
