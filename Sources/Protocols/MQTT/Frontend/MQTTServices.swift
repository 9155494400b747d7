import BusCore
package import BusRuntime
package import FrontendKit
import MQTTWire
import NIOCore
package import Storage

/// What every MQTT connection shares (one reference per connection rather than copies).
package final class MQTTServices: Sendable {
    let bus: Bus
    let connections: ConnectionRegistry
    let authenticator: any Authenticator
    let configuration: MQTTConfiguration
    let sessions: any MQTTSessionStore
    let retained: RetainedMessageStore
    let metricsSlot: ProtocolMetricsSlot
    let counters: ProtocolCounters
    let keepAlive: KeepAliveSweepers
    let statistics = MQTTStatistics()
    /// Persistent sessions and the session message log in the store; nil without a store.
    let persistence: MQTTPersistence?

    package init(
        bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator, configuration: MQTTConfiguration,
        retained: RetainedMessageStore, sessions: any MQTTSessionStore = MQTTMemorySessionStore(),
        store: (any Store)? = nil, keepAlive: KeepAliveSweepers? = nil
    ) {
        self.persistence = store.map { MQTTPersistence(store: $0, loops: bus.shards.map(\.eventLoop)) }
        self.bus = bus
        self.connections = connections
        self.authenticator = authenticator
        self.configuration = configuration
        self.sessions = sessions
        self.retained = retained
        self.metricsSlot = bus.metrics.slot(for: "mqtt")
        self.counters = bus.metrics.counters(metricsSlot)
        self.keepAlive = keepAlive ?? KeepAliveSweepers(eventLoops: bus.shards.map(\.eventLoop))
    }
}
