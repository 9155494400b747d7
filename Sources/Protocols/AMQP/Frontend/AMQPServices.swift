import AMQPWire
import Atomics
import BusCore
package import BusRuntime
package import FrontendKit
import NIOConcurrencyHelpers
package import NIOCore
package import Storage

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
    /// Whether publishers are blocked (the store is behind), and the open connections to tell when it
    /// changes.
    let blocked = ManagedAtomic(false)
    let openConnections = NIOLockedValueBox<[ObjectIdentifier: AMQPConnectionHandler]>([:])

    /// Blocks or unblocks publishing connections (`connection.blocked` / `unblocked`); each hears it on
    /// its own loop.
    func setBlocked(_ block: Bool, reason: String) {
        guard blocked.exchange(block, ordering: .relaxed) != block else { return }
        for connection in openConnections.withLockedValue({ Array($0.values) }) {
            connection.eventLoop.execute { connection.flowChanged(blocked: block, reason: reason) }
        }
    }

    /// Watches the store's backlog every 100 ms and blocks publishers past `blockAtStoreBacklog`
    /// writes, unblocking below half of it.
    func startBacklogWatch(store: any Store, on loop: any EventLoop) -> [RepeatedTask] {
        let threshold = configuration.blockAtStoreBacklog
        guard threshold > 0 else { return [] }
        return [
            loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { [self] _ in
                let backlog = store.statistics.pendingWrites
                if backlog >= threshold {
                    setBlocked(true, reason: "low on resources: the store is \(backlog) writes behind")
                } else if backlog < threshold / 2 {
                    setBlocked(false, reason: "")
                }
            }
        ]
    }

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
