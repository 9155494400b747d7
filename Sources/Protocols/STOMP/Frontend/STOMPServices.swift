package import BusRuntime
package import FrontendKit

/// What every STOMP connection shares: what every frontend shares (`shared`), the configuration, and
/// the queue broker (the same one AMQP uses: `/queue/jobs` is AMQP's queue `jobs`).
package final class STOMPServices: FrontendServices {
    package let shared: FrontendShared
    package let configuration: STOMPConfiguration
    package let broker: QueueBroker
    /// The `server` header's version.
    let version = "1.0"
    /// Publisher flow control (`CongestedSubscriber`): a subscriber is behind past 3/4 of
    /// `max_pending_bytes` (the channel's high water mark), a slow consumer past `write_deadline_ms` or past
    /// its slack.
    package let softPendingLimit: Int
    package let congestionBounds: CongestedSubscriber.Bounds

    package init(
        configuration: STOMPConfiguration, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        broker: QueueBroker, keepAlive: KeepAliveSweepers? = nil
    ) {
        self.shared = FrontendShared(
            metricsName: "stomp", bus: bus, connections: connections, authenticator: authenticator,
            keepAlive: keepAlive)
        self.configuration = configuration
        self.broker = broker
        self.softPendingLimit = CongestedSubscriber.Bounds.softLimit(outboundLimit: configuration.maxPendingBytes)
        self.congestionBounds = CongestedSubscriber.Bounds(
            outboundLimit: configuration.maxPendingBytes, deadlineMilliseconds: configuration.writeDeadlineMilliseconds)
    }
}
