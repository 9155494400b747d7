import AMQPWire
import Atomics
import BusCore
package import BusRuntime
package import FrontendKit
import NIOConcurrencyHelpers
package import NIOCore
package import Storage

/// What every AMQP connection shares: what every frontend shares (`shared`: the bus, the registry,
/// authentication, metrics, sweepers), the configuration, and the brokers of the virtual hosts
/// (exchanges, bindings and queues, shared with every protocol that uses queues).
package final class AMQPServices: FrontendServices {
    package let shared: FrontendShared
    package let configuration: AMQPConfiguration
    /// The configured virtual hosts; connection.open picks one.
    package let virtualHosts: VirtualHosts
    /// The broker of `/`.
    package var broker: QueueBroker { virtualHosts.root }
    /// The server version in connection.start's properties.
    let version = "0.9"
    /// Direct reply-to consumers (`amq.rabbitmq.reply-to`), by the reply address handed to requesters.
    let directReplies = NIOLockedValueBox<[String: DirectReplyConsumer]>([:])
    /// Whether publishers are blocked (the store is behind). Each connection compares it with what it
    /// told its client on its keep-alive tick (every 250 ms) and on its first publish: no registry of
    /// connections, no broadcast.
    let blocked = ManagedAtomic(false)
    /// What `connection.blocked` says (RabbitMQ's alarms say "low on memory" / "low on disk").
    static let blockedReason = "low on resources: the store is behind"

    /// Watches the store's backlog every 100 ms and blocks publishers past `blockAtStoreBacklog`
    /// writes, unblocking below half of it.
    func startBacklogWatch(store: any Store, on loop: any EventLoop) -> [RepeatedTask] {
        let threshold = configuration.blockAtStoreBacklog
        guard threshold > 0 else { return [] }
        return [
            loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { [self] _ in
                let backlog = store.statistics.pendingWrites
                if backlog >= threshold {
                    blocked.store(true, ordering: .relaxed)
                } else if backlog < threshold / 2 {
                    blocked.store(false, ordering: .relaxed)
                }
            }
        ]
    }

    package init(
        configuration: AMQPConfiguration, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        virtualHosts: VirtualHosts, keepAlive: KeepAliveSweepers? = nil
    ) {
        self.shared = FrontendShared(
            metricsName: "amqp", bus: bus, connections: connections, authenticator: authenticator, keepAlive: keepAlive)
        self.configuration = configuration
        self.virtualHosts = virtualHosts
    }
}
