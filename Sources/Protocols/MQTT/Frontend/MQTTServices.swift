import BusCore
package import BusRuntime
package import FrontendKit
import MQTTWire
import NIOCore
package import Storage

/// What every MQTT connection shares (one reference per connection rather than copies): what every
/// frontend shares (`shared`: the bus, the registry, authentication, metrics, sweepers), the settings, the
/// sessions, retained messages, `$SYS` statistics and persistence.
package final class MQTTServices: FrontendServices {
    package let shared: FrontendShared
    let configuration: MQTTConfiguration
    let sessions: any MQTTSessionStore
    let retained: RetainedMessageStore
    let statistics = MQTTStatistics()
    /// Persistent sessions and the session message log in the store; nil without a store.
    let persistence: MQTTPersistence?
    /// Publisher flow control (`CongestedSubscriber`): a subscriber is behind past 3/4 of
    /// `max_outbound_bytes` (the channel's high water mark) and its publishers pause; past
    /// `write_deadline_ms`, or given the rest of `max_outbound_bytes` (at least 4 MiB) while behind, its QoS 0
    /// messages are dropped again and its publishers go on.
    let congestionBounds: CongestedSubscriber.Bounds

    package init(
        bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator, configuration: MQTTConfiguration,
        retained: RetainedMessageStore, sessions: any MQTTSessionStore = MQTTMemorySessionStore(),
        store: (any Store)? = nil, keepAlive: KeepAliveSweepers? = nil
    ) {
        self.persistence = store.map { MQTTPersistence(store: $0, loops: bus.shards.map(\.eventLoop)) }
        self.shared = FrontendShared(
            metricsName: "mqtt", bus: bus, connections: connections, authenticator: authenticator, keepAlive: keepAlive)
        self.configuration = configuration
        self.sessions = sessions
        self.retained = retained
        self.congestionBounds = CongestedSubscriber.Bounds(
            outboundLimit: configuration.maxOutboundBytes, deadlineMilliseconds: configuration.writeDeadlineMilliseconds
        )
    }
}
