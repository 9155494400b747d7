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

    package init(
        configuration: STOMPConfiguration, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        broker: QueueBroker, keepAlive: KeepAliveSweepers? = nil
    ) {
        self.shared = FrontendShared(
            metricsName: "stomp", bus: bus, connections: connections, authenticator: authenticator,
            keepAlive: keepAlive)
        self.configuration = configuration
        self.broker = broker
    }
}
