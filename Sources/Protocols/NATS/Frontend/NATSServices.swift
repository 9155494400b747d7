import Atomics
package import BusRuntime
package import FrontendKit

/// What every NATS connection shares: configuration, the bus, the registries, counters.
package final class NATSServices: Sendable {
    package let configuration: NATSConfiguration
    package let bus: Bus
    package let connections: ConnectionRegistry
    package let authenticator: any Authenticator
    /// TLS for the NATS port: INFO says `tls_required` and the handshake follows it.
    package let tls: ServerTLS?
    /// Whether client certificates are required on the NATS port.
    package let tlsVerify: Bool
    /// The address the port binds (`host` in INFO).
    package let host: String
    let keepAlive: KeepAliveSweepers
    let metricsSlot: ProtocolMetricsSlot
    let counters: ProtocolCounters
    /// Server id in INFO: random per process, like the reference server's.
    let serverID: String
    private let nextClientID = ManagedAtomic<UInt64>(1)

    package init(
        configuration: NATSConfiguration, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        tls: ServerTLS? = nil, tlsVerify: Bool = false, keepAlive: KeepAliveSweepers? = nil, host: String = "0.0.0.0"
    ) {
        self.host = host
        self.tls = tls
        self.tlsVerify = tlsVerify
        self.configuration = configuration
        self.bus = bus
        self.connections = connections
        self.authenticator = authenticator
        self.keepAlive = keepAlive ?? KeepAliveSweepers(eventLoops: bus.shards.map(\.eventLoop))
        self.metricsSlot = bus.metrics.slot(for: "nats")
        self.counters = bus.metrics.counters(metricsSlot)
        self.serverID = "NSB" + bus.makeIdentifier().uppercased() + bus.makeIdentifier().uppercased()
    }

    /// The numeric `client_id` of INFO.
    func makeClientID() -> UInt64 { nextClientID.loadThenWrappingIncrement(ordering: .relaxed) }
}
