package import BusRuntime
package import Logging
package import NIOCore
package import ServiceLifecycle
package import Storage

/// What the server hands every frontend when it builds it: the shared bus, registries and security, and
/// the frontend's own listener settings. One value, so a new shared facility is one new field here
/// rather than a new parameter in every frontend.
package struct FrontendContext: Sendable {
    /// The frontend's name (its metrics label; the key of its bound addresses).
    package let name: String
    package let bus: Bus
    /// Every live connection of every protocol: limits, the admin API, shutdown.
    package let connections: ConnectionRegistry
    package let authenticator: any Authenticator
    /// Retained messages ("current values"), shared by every frontend.
    package let retained: RetainedMessageStore
    /// Durable state (memory, SQLite).
    package let store: any Store
    package let group: any EventLoopGroup
    package let logger: Logger
    /// The address every listener binds.
    package let host: String
    /// Whether it runs and where it listens (generic keys of its config section).
    package let listener: FrontendListenerSettings
    /// The server's certificate when the `tls` section gives one; nil: no TLS.
    package let tls: ServerTLS?
    /// Browser origins allowed server-wide (`allowed_origins`).
    package let origins: OriginPolicy
    /// The limits every protocol shares (config key `limits`).
    package let limits: ServerLimits
    /// One keep-alive sweeper per event loop, shared by every protocol's connections.
    package let keepAlive: KeepAliveSweepers
    /// Where listeners are bound, by frontend name (tests and benchmarks use port 0).
    package let addresses: BoundAddresses
    /// The queue brokers of the configured virtual hosts (exchanges, bindings, queues), shared by every
    /// protocol with queues (AMQP, STOMP): an AMQP queue is a STOMP `/queue/`.
    package let virtualHosts: VirtualHosts
    /// With an engine: forwards a polling session's requests to the instance that holds it.
    package let forwarder: SessionForwarder?
    /// The JSON Schemas publishes must satisfy (config `payload_schemas`, docs/topics.md "Payload
    /// schemas"): every frontend checks its publishes here, beside its publish-permission check.
    package var payloadSchemas: PayloadSchemas { bus.payloadSchemas }
    /// The broker of the virtual host `/` (STOMP's).
    package var broker: QueueBroker { virtualHosts.root }

    package init(
        name: String, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        retained: RetainedMessageStore, store: any Store, group: any EventLoopGroup, logger: Logger, host: String,
        listener: FrontendListenerSettings, tls: ServerTLS?, origins: OriginPolicy, limits: ServerLimits,
        keepAlive: KeepAliveSweepers, addresses: BoundAddresses, virtualHosts: VirtualHosts,
        forwarder: SessionForwarder? = nil
    ) {
        self.name = name
        self.bus = bus
        self.connections = connections
        self.authenticator = authenticator
        self.retained = retained
        self.store = store
        self.group = group
        self.logger = logger
        self.host = host
        self.listener = listener
        self.tls = tls
        self.origins = origins
        self.limits = limits
        self.keepAlive = keepAlive
        self.addresses = addresses
        self.virtualHosts = virtualHosts
        self.forwarder = forwarder
    }

    /// The frontend's TCP listeners as services: the plain `port` and, when the server has a
    /// certificate, the `tls_port`. Bound addresses are recorded as `name` and `name-tls`.
    package func listeners(
        label: String, maxOutboundBytes: Int,
        initializeChild: @escaping @Sendable (any Channel, _ tls: Bool) throws -> Void
    ) -> [any Service] {
        var services: [any Service] = []
        let addresses = self.addresses
        let name = self.name
        if let port = listener.port {
            services.append(
                TCPListenerService(
                    configuration: TCPListenerConfiguration(
                        name: label, host: host, port: port, maxOutboundBytes: maxOutboundBytes),
                    group: group, logger: logger, onBound: { addresses.record(name, $0) },
                    initializeChild: { try initializeChild($0, false) }))
        }
        if let port = listener.tlsPort, let tls {
            services.append(
                TCPListenerService(
                    configuration: TCPListenerConfiguration(
                        name: label + " (TLS)", host: host, port: port, maxOutboundBytes: maxOutboundBytes, tls: tls),
                    group: group, logger: logger, onBound: { addresses.record(name + "-tls", $0) },
                    initializeChild: { try initializeChild($0, true) }))
        }
        return services
    }
}
