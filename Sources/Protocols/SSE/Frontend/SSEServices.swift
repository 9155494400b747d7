package import BusRuntime
package import FrontendKit
import NIOConcurrencyHelpers

/// What every SSE stream and poll shares: the bus, the connection registry, authentication, the
/// loops' keep-alive sweepers, the realtime client table and the settings.
package final class SSEServices: Sendable {
    package let configuration: SSEConfiguration
    package let bus: Bus
    package let connections: ConnectionRegistry
    package let authenticator: any Authenticator
    package let keepAlive: KeepAliveSweepers
    package let metricsSlot: ProtocolMetricsSlot
    package let counters: ProtocolCounters
    package let cors: SSECORS
    /// Realtime clients by client id, for `POST /api/realtime`.
    let realtimeClients = NIOLockedValueBox<[String: SSEStreamHandler]>([:])

    package init(
        configuration: SSEConfiguration, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        keepAlive: KeepAliveSweepers? = nil
    ) {
        self.configuration = configuration
        self.bus = bus
        self.connections = connections
        self.authenticator = authenticator
        self.keepAlive = keepAlive ?? KeepAliveSweepers(eventLoops: bus.shards.map(\.eventLoop))
        self.metricsSlot = bus.metrics.slot(for: "sse")
        self.counters = bus.metrics.counters(metricsSlot)
        self.cors = SSECORS(origins: configuration.origins)
    }
}
