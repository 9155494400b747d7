import AMQPWire
import Atomics
import BusCore
package import BusRuntime
package import FrontendKit
import NIOConcurrencyHelpers

/// What every AMQP connection shares: what every frontend shares (`shared`: the bus, the registry,
/// authentication, metrics, sweepers), the configuration, and the broker of the one virtual host `/`
/// (exchanges, bindings and queues, shared with every protocol that uses queues).
package final class AMQPServices: FrontendServices {
    package let shared: FrontendShared
    package let configuration: AMQPConfiguration
    package let broker: QueueBroker
    /// The server version in connection.start's properties.
    let version = "0.9"
    /// Consumer ids, unique in the server.
    let nextConsumerID = ManagedAtomic<UInt64>(1)
    /// Direct reply-to consumers (`amq.rabbitmq.reply-to`), by the reply address handed to requesters.
    let directReplies = NIOLockedValueBox<[String: DirectReplyConsumer]>([:])

    package init(
        configuration: AMQPConfiguration, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        broker: QueueBroker, keepAlive: KeepAliveSweepers? = nil
    ) {
        self.shared = FrontendShared(
            metricsName: "amqp", bus: bus, connections: connections, authenticator: authenticator, keepAlive: keepAlive)
        self.configuration = configuration
        self.broker = broker
    }
}
