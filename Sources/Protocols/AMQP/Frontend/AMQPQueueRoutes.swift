import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOHTTP1

/// `GET /api/queues`: the broker's queues with their depths and consumers (RabbitMQ's management API
/// names: `messages_ready`, `messages_unacknowledged`, `consumers`). Each queue is read on its own loop.
enum AMQPQueueRoutes {
    static func register(into router: inout HTTPRouter.Builder, broker: QueueBroker) {
        router.addAdmin(.GET, "/api/queues") { _, loop in
            let hosts = broker.queues
            let reads = hosts.map { host in
                host.eventLoop.submit { (host.readyCount, host.unackedCount, host.consumerCount) }
            }
            return EventLoopFuture.whenAllSucceed(reads, on: loop).map { counts in
                .json { body in
                    body.writeStaticString("{\"queues\":[")
                    for (index, (host, count)) in zip(hosts, counts).enumerated() {
                        if index > 0 { body.writeStaticString(",") }
                        body.writeStaticString("{\"name\":")
                        body.writeJSONString(host.name)
                        body.writeString(
                            ",\"vhost\":\"/\",\"durable\":\(host.durable),\"exclusive\":\(host.exclusiveOwner != nil)"
                                + ",\"auto_delete\":\(host.autoDelete),\"messages_ready\":\(count.0)"
                                + ",\"messages_unacknowledged\":\(count.1),\"consumers\":\(count.2)}")
                    }
                    body.writeStaticString("]}")
                }
            }
        }
    }
}
