import Atomics
import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import STOMPWire

/// MESSAGE frames: from the bus for direct `/topic/` subscriptions (`BusSubscriber`), and from queues for
/// the others. Each subscription keeps its `MESSAGE`/`subscription`/`destination` lines and writes only
/// what changes per message.
extension STOMPConnectionHandler {
    /// A bus message for a direct `/topic/` subscription.
    func deliver(_ message: BusMessage, for busSubscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard message.isPublication, !machine.isClosing else { return .skipped }
        let slot = busSubscription.localIndex
        guard slot < slots.count, let subscription = slots[slot], subscription.busSubscription === busSubscription
        else { return .skipped }
        if !writable.load(ordering: .relaxed) || out.readableBytes >= services.softPendingLimit {
            // Behind: the publishers feeding it pause until it drains; past the deadline or the slack
            // (`CongestedSubscriber`), it is a slow consumer.
            let admission = behind.admit(
                bytes: message.payload.readableBytes, publishedAt: message.timestamp, from: message.publisherID,
                to: lifecycle.info.id,
                now: bus.clock(), bounds: services.congestionBounds, registry: services.shared.connections)
            if admission == .refuse { return slowConsumer() }
        }
        let topic = message.topic
        if !topic.isIdentical(to: subscription.prefixTopic) && topic != subscription.prefixTopic {
            if !topic.isIdentical(to: lastDeliveredTopic) && topic != lastDeliveredTopic {
                lastDeliveredTopic = topic
                lastDeliveredDestination = "/topic/" + RoutingKeyMapping.routingKey(forTopic: topic.name)
            }
            subscription.prefixTopic = topic
            writePrefix(of: subscription, destination: lastDeliveredDestination)
        }
        let before = out.writerIndex
        let tag = nextDeliveryTag
        nextDeliveryTag &+= 1
        writeMessage(subscription, tag: tag, ack: false, redelivered: false, message: message)
        return .delivered(bytes: out.writerIndex - before)
    }

    /// The slow-consumer policy: ERROR `Slow consumer` and close, counted.
    func slowConsumer() -> DeliveryOutcome {
        services.counters.countSlowConsumer()
        fail(STOMPError("Slow consumer", detail: "The client did not read its messages fast enough.\n"))
        return .dropped
    }

    /// A queue's delivery for `consumer`'s subscription (on this loop). One for a subscription that
    /// ended goes back to its queue.
    func deliver(_ delivery: QueueDelivery<BrokeredMessage>, to consumer: STOMPQueueConsumer, from host: QueueHost) {
        let subscription = consumer.subscription
        let queued = delivery.message
        guard subscriptions[subscription.id] === subscription, !machine.isClosing else {
            if subscription.ackMode != .auto {
                let id = queued.id
                host.perform { $0.reject([id], requeue: true) }
            }
            return
        }
        let tag = nextDeliveryTag
        nextDeliveryTag &+= 1
        let manual = subscription.ackMode != .auto
        if manual {
            pendingAcks[tag] = STOMPPendingAck(subscription: subscription, host: host, messageID: queued.id)
            if subscription.ackMode == .client { subscription.unacked.append(tag) }
        }
        let message = queued.payload.message
        var destination = subscription.destination
        if let exchange = subscription.boundExchange, let key = queued.routingKeys.first {
            destination = exchange == QueueBroker.busExchange ? "/topic/" + key : "/exchange/\(exchange)/" + key
        }
        if destination != subscription.prefixDestination {
            subscription.prefixDestination = destination
            subscription.prefixTopic = Topic(trusted: "")
            writePrefix(of: subscription, destination: destination)
        }
        writeMessage(subscription, tag: tag, ack: manual, redelivered: queued.redelivered, message: message)
    }

    /// `MESSAGE`, `subscription:` and `destination:` lines of `subscription`, kept for its next message.
    private func writePrefix(of subscription: STOMPSubscription, destination: String) {
        let escaping = machine.escaping
        subscription.prefix.clear()
        subscription.prefix.writeStaticString("MESSAGE\n")
        STOMPFrameEncoder.writeHeader("subscription", subscription.id, escaping: escaping, to: &subscription.prefix)
        STOMPFrameEncoder.writeHeader("destination", destination, escaping: escaping, to: &subscription.prefix)
    }

    /// One MESSAGE: the subscription's prefix, `message-id` (and `ack` when the client acknowledges it),
    /// `redelivered`, the message's headers, `content-length` and the body.
    private func writeMessage(
        _ subscription: STOMPSubscription, tag: UInt64, ack: Bool, redelivered: Bool, message: BusMessage
    ) {
        out.writeImmutableBuffer(subscription.prefix)
        out.writeStaticString("message-id:")
        out.writeImmutableBuffer(subscription.messageIDPrefix)
        STOMPFrameEncoder.writeDecimal(Int(truncatingIfNeeded: tag), to: &out)
        out.writeInteger(UInt8(ascii: "\n"))
        if ack && version == .v1_2 {
            out.writeStaticString("ack:")
            out.writeImmutableBuffer(subscription.messageIDPrefix)
            STOMPFrameEncoder.writeDecimal(Int(truncatingIfNeeded: tag), to: &out)
            out.writeInteger(UInt8(ascii: "\n"))
        }
        if redelivered { out.writeStaticString("redelivered:true\n") }
        let headers = message.headers
        if !headers.isEmpty { STOMPMessageMapping.writeHeaders(headers, escaping: machine.escaping, to: &out) }
        STOMPFrameEncoder.writeContentLength(message.payload.readableBytes, to: &out)
        out.writeInteger(UInt8(ascii: "\n"))
        out.writeImmutableBuffer(message.payload)
        out.writeInteger(UInt8(0))
    }
}
