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
    /// The server settings every connection's state machine reads, made once (issue 25).
    let machineSettings: MQTTConnectionStateMachine.SharedSettings

    package init(
        bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator, configuration: MQTTConfiguration,
        retained: RetainedMessageStore, sessions: any MQTTSessionStore = MQTTMemorySessionStore(),
        store: (any Store)? = nil, keepAlive: KeepAliveSweepers? = nil
    ) {
        self.persistence = store.map {
            MQTTPersistence(store: $0, loops: bus.shards.map(\.eventLoop), clock: bus.clock)
        }
        self.shared = FrontendShared(
            metricsName: "mqtt", bus: bus, connections: connections, authenticator: authenticator, keepAlive: keepAlive)
        self.configuration = configuration
        self.machineSettings = .init(configuration.settings)
        self.sessions = sessions
        self.retained = retained
        self.congestionBounds = CongestedSubscriber.Bounds(
            outboundLimit: configuration.maxOutboundBytes, deadlineMilliseconds: configuration.writeDeadlineMilliseconds
        )
        persistence?.ownership?.onTakeoverRequested { [weak self] clientID in self?.handOver(clientID) }
    }

    /// How long a CONNECT waits for another instance sharing the database to let go of its session before
    /// it is refused with 0x88 Server unavailable: the owner answers in one round trip and one commit.
    static let claimTimeout = TimeAmount.seconds(5)

    /// Another instance sharing the database asks for `clientID`'s session: it leaves here (a session
    /// being claimed here and not made yet is let go of once it is, when the request comes again).
    func handOver(_ clientID: String) {
        guard let session = sessions.session(for: clientID) else { return }
        session.eventLoop.execute { session.handOver() }
    }
}
