import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOHTTP1

/// `GET /api/queues`: every virtual host's queues (`/` first) with their depths and consumers (RabbitMQ's management API
/// names: `messages_ready`, `messages_unacknowledged`, `consumers`, and `consumer_details` with each
/// consumer's tag, acknowledgement mode, prefetch, exclusivity, priority, unacknowledged count and
/// `channel_details`). Each queue is read on its own loop.
enum AMQPQueueRoutes {
    static func register(into router: inout HTTPRouter.Builder, virtualHosts: VirtualHosts) {
        router.addAdmin(.GET, "/api/queues") { _, loop in
            let hosts = virtualHosts.all.flatMap(\.queues)
            let reads = hosts.map { host in
                host.eventLoop.submit { (host.readyCount, host.unackedCount, host.consumerDetails) }
            }
            return EventLoopFuture.whenAllSucceed(reads, on: loop).map { counts in
                .json { body in
                    body.writeStaticString("{\"queues\":[")
                    for (index, (host, count)) in zip(hosts, counts).enumerated() {
                        if index > 0 { body.writeStaticString(",") }
                        body.writeStaticString("{\"name\":")
                        body.writeJSONString(host.name)
                        body.writeStaticString(",\"vhost\":")
                        body.writeJSONString(host.virtualHost)
                        body.writeString(
                            ",\"durable\":\(host.durable),\"exclusive\":\(host.exclusiveOwner != nil)"
                                + ",\"auto_delete\":\(host.autoDelete),\"messages_ready\":\(count.0)"
                                + ",\"messages_unacknowledged\":\(count.1),\"consumers\":\(count.2.count)"
                                + ",\"consumer_details\":[")
                        for (position, detail) in count.2.enumerated() {
                            if position > 0 { body.writeStaticString(",") }
                            writeConsumer(detail, to: &body)
                        }
                        body.writeStaticString("]}")
                    }
                    body.writeStaticString("]}")
                }
            }
        }
    }

    private static func writeConsumer(
        _ detail: (consumer: QueueConsumer, unacked: Int, owner: QueueConsumerOwner?), to body: inout ByteBuffer
    ) {
        let consumer = detail.consumer
        body.writeStaticString("{\"consumer_tag\":")
        body.writeJSONString(consumer.tag)
        body.writeString(
            ",\"ack_required\":\(consumer.ackMode == .manual),\"prefetch_count\":\(consumer.prefetch)"
                + ",\"exclusive\":\(consumer.exclusive),\"priority\":\(consumer.priority)"
                + ",\"messages_unacknowledged\":\(detail.unacked)")
        if let owner = detail.owner {
            body.writeStaticString(",\"channel_details\":{\"protocol\":")
            body.writeJSONString(owner.protocolName)
            body.writeStaticString(",\"connection_name\":")
            body.writeJSONString(owner.connectionID)
            if let channel = owner.channel { body.writeString(",\"number\":\(channel)") }
            body.writeStaticString("}")
        }
        body.writeStaticString("}")
    }
}
