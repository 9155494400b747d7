import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import STOMPWire

/// SUBSCRIBE, UNSUBSCRIBE, ACK and NACK (1.2 §"SUBSCRIBE" … §"NACK"), with RabbitMQ's destinations:
/// a `/topic/` with automatic acks is a bus subscription; acknowledged or durable topic subscriptions,
/// `/queue/`, `/amq/queue/` and `/exchange/` consume a queue of the broker.
extension STOMPConnectionHandler {
    func subscribe(_ frame: STOMPFrame) throws(STOMPError) {
        let text = try frame.required("destination")
        // 1.2 needs an id; 1.0 and 1.1 clients may leave it out (the destination names the subscription).
        let id = version == .v1_2 ? try frame.required("id") : (frame.headers["id"] ?? text)
        guard subscriptions[id] == nil else {
            throw STOMPError(
                "Duplicated subscription identifier", detail: "A subscription identified by '\(id)' already exists.\n")
        }
        guard let destination = STOMPDestination(text) else { throw STOMPDestination.unknown(text) }
        let ackText = frame.headers["ack"] ?? "auto"
        guard let ackMode = STOMPAckMode(rawValue: ackText) else {
            throw STOMPError(
                "Invalid ack header", detail: "ack must be auto, client or client-individual: '\(ackText)'\n")
        }
        var prefetch = 0
        if let text = frame.headers["prefetch-count"] {
            guard let value = Int(text), value >= 0 else {
                throw STOMPError("Invalid prefetch-count header", detail: "'\(text)' is not a non-negative integer.\n")
            }
            prefetch = value
        }
        let durable = frame.headers["durable"] == "true" || frame.headers["persistent"] == "true"
        let subscription = STOMPSubscription(id: id, destination: text, ackMode: ackMode)
        switch destination {
        case .topic(let key):
            if ackMode == .auto, !durable, let mapped = RoutingKeyMapping.filterText(forBindingKey: key), mapped.exact {
                try subscribeOnBus(subscription, filterText: mapped.filter, key: key)
            } else {
                try subscribeThroughQueue(
                    subscription, exchange: QueueBroker.busExchange, key: key, durable: durable, frame: frame,
                    prefetch: prefetch)
            }
        case .exchange(let exchange, let key):
            do throws(BrokerRefusal) {
                try checkAccess(.read, "exchange", exchange)
                _ = try broker.existingExchange(exchange)
            } catch { throw Self.refused(error) }
            try subscribeThroughQueue(
                subscription, exchange: exchange, key: key, durable: durable, frame: frame, prefetch: prefetch)
        case .queue(let name):
            do throws(BrokerRefusal) { try checkAccess(.read, "queue", name) } catch { throw Self.refused(error) }
            let host = try declareQueue(name, frame: frame)
            declaredQueues.insert(name)
            try consume(host, for: subscription, prefetch: prefetch)
        case .amqQueue(let name):
            let host: QueueHost
            do throws(BrokerRefusal) {
                try checkAccess(.read, "queue", name)
                host = try broker.queue(name, owner: connectionID)
            } catch {
                throw Self.refused(error)
            }
            try consume(host, for: subscription, prefetch: prefetch)
        case .temporaryQueue, .replyQueue:
            throw STOMPError(
                "Invalid destination", detail: "'\(text)' cannot be subscribed to; it is made by a reply-to header.\n")
        }
    }

    /// A `/topic/` with automatic acks: straight on the bus, as MQTT and NATS subscribe.
    private func subscribeOnBus(_ subscription: STOMPSubscription, filterText: String, key: String) throws(STOMPError) {
        guard let filter = try? TopicFilter(filterText, limits: bus.configuration.topicLimits) else {
            throw STOMPError("Invalid destination", detail: "'/topic/\(key)' names no topic filter.\n")
        }
        guard identity.permissions.maySubscribe(filter) else {
            services.counters.countPermissionDenied()
            throw STOMPError(
                "Access refused",
                detail: "Access to topic '\(filterText)' refused for user '\(identity.userID ?? "guest")'\n")
        }
        let result = bus.subscribe(
            filter, subscriber: self, subscriberID: connectionID,
            options: identity.subscriptionOptions(), presence: lifecycle.info.presence)
        subscription.source = .bus(result.subscription)
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = subscription
        } else {
            slot = slots.count
            slots.append(subscription)
        }
        result.subscription.localIndex = slot
        subscriptions[subscription.id] = subscription
        let destination = subscription.destination
        lifecycle.update { $0.subscriptions.append(destination) }
    }

    /// A queue bound to `exchange` with `key` for this subscription: durable and named after the
    /// subscription (`durable:true`, RabbitMQ's durable topic subscriptions: it outlives the connection
    /// and collects messages meanwhile) or exclusive to the connection.
    private func subscribeThroughQueue(
        _ subscription: STOMPSubscription, exchange: String, key: String, durable: Bool, frame: STOMPFrame,
        prefetch: Int
    ) throws(STOMPError) {
        if exchange == QueueBroker.busExchange, let mapped = RoutingKeyMapping.filterText(forBindingKey: key),
            let filter = try? TopicFilter(mapped.filter, limits: bus.configuration.topicLimits),
            !identity.permissions.maySubscribe(filter)
        {
            services.counters.countPermissionDenied()
            throw STOMPError(
                "Access refused",
                detail: "Access to topic '\(mapped.filter)' refused for user '\(identity.userID ?? "guest")'\n")
        }
        let name =
            frame.headers["x-queue-name"]
            ?? (durable
                ? "stomp-subscription-" + Self.queueNameSafe(subscription.id)
                : "amq.gen-" + bus.makeIdentifier() + bus.makeIdentifier())
        let host: QueueHost
        do throws(BrokerRefusal) {
            if frame.headers["x-queue-name"] != nil || durable {
                // A named queue is the client's to configure and fill (RabbitMQ: configure and write on it).
                try checkAccess(.configure, "queue", name)
                try checkAccess(.write, "queue", name)
            }
            if durable, let existing = try? broker.queue(name, owner: connectionID) {
                host = existing
            } else {
                host = try broker.declareQueue(
                    QueueBroker.QueueDeclaration(
                        name: name, durable: durable, exclusive: !durable,
                        autoDelete: !durable || frame.headers["auto-delete"] == "true"),
                    owner: connectionID, on: eventLoop
                ).host
            }
            try broker.bindQueue(host, exchange: exchange, key: key, viewer: identity.subscriptionOptions().viewer)
        } catch {
            throw Self.refused(error)
        }
        subscription.ownQueue = name
        subscription.boundExchange = exchange
        try consume(host, for: subscription, prefetch: prefetch)
    }

    /// A subscription id as a queue name: letters, digits and `-_.:` kept, the rest `_`.
    private static func queueNameSafe(_ id: String) -> String {
        String(
            id.unicodeScalars.map { scalar in
                scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_.:".unicodeScalars.contains(scalar)
                    ? Character(scalar) : "_"
            })
    }

    /// Consumes `host` for `subscription`. The queue may live on another loop: input is held until it
    /// has the consumer, so a RECEIPT and later frames follow it.
    func consume(_ host: QueueHost, for subscription: STOMPSubscription, prefetch: Int) throws(STOMPError) {
        let consumer = STOMPQueueConsumer(
            id: broker.makeConsumerID(), connection: self, subscription: subscription, writable: writable)
        let registration = QueueConsumer(
            id: consumer.id, tag: subscription.id, prefetch: prefetch,
            ackMode: subscription.ackMode == .auto ? .automatic : .manual, exclusive: false, priority: 0)
        subscription.source = .queue(host, consumer)
        subscriptions[subscription.id] = subscription
        let destination = subscription.destination
        lifecycle.update { $0.subscriptions.append(destination) }
        let add: @Sendable (QueueHost) -> BrokerRefusal? = { host in
            do throws(BrokerRefusal) {
                try host.addConsumer(registration, sink: consumer)
                return nil
            } catch { return error }
        }
        if host.eventLoop === eventLoop, host.sharing == nil {
            if let refusal = add(host) { throw Self.refused(refusal) }
            return
        }
        inbound.hold()
        let id = subscription.id
        let loop = eventLoop
        // Several instances sharing the store: the durable queue is claimed first (docs/storage.md).
        let acquireAndAdd: @Sendable (QueueHost, @escaping @Sendable (BrokerRefusal?) -> Void) -> Void = {
            host, reply in
            guard host.sharing != nil else { return reply(add(host)) }
            host.acquire { refusal in reply(refusal ?? add(host)) }
        }
        host.perform { host in
            acquireAndAdd(host) { refusal in loop.execute { [self] in subscribed(id, refusal: refusal) } }
        }
    }

    /// The queue took the subscription's consumer, or refused it (on the connection's loop).
    private func subscribed(_ id: String, refusal: BrokerRefusal?) {
        inbound.release()
        guard context != nil else { return }
        if let refusal {
            subscriptions[id] = nil
            return fail(Self.refused(refusal))
        }
        processInbound()
        flushOut()
    }

    func unsubscribe(_ frame: STOMPFrame) throws(STOMPError) {
        let id: String
        if version == .v1_2 {
            id = try frame.required("id")
        } else if let given = frame.headers["id"] ?? frame.headers["destination"] {
            id = given
        } else {
            throw STOMPError.missingHeader("id", command: .unsubscribe)
        }
        guard let subscription = subscriptions.removeValue(forKey: id) else {
            // RabbitMQ answers an unknown id with an ERROR too.
            throw STOMPError("Bad subscription", detail: "Subscription to \(id) not found.\n")
        }
        end(subscription)
        let destination = subscription.destination
        lifecycle.update { info in
            if let index = info.subscriptions.firstIndex(of: destination) { info.subscriptions.remove(at: index) }
        }
        // UNSUBSCRIBE with `durable:true` ends a durable subscription for good (RabbitMQ: deletes its queue).
        if frame.headers["durable"] == "true" || frame.headers["persistent"] == "true",
            let queue = subscription.ownQueue,
            let host = try? broker.queue(queue, owner: connectionID)
        {
            host.perform { $0.delete() }
        }
    }

    /// Ends a subscription: off the bus, or its consumer off its queue with its unacknowledged messages
    /// back in it.
    func end(_ subscription: STOMPSubscription) {
        // What the client settled before comes first: those messages must not be requeued.
        sendSettlements()
        switch subscription.source {
        case .bus(let busSubscription)?:
            let slot = busSubscription.localIndex
            if slot < slots.count, slots[slot] === subscription {
                slots[slot] = nil
                freeSlots.append(slot)
            }
            bus.unsubscribe(busSubscription, presenceClientID: connectionID)
        case .queue(let host, let consumer)?:
            // Removing the consumer gives its unacknowledged messages back, redelivered.
            for (tag, pending) in pendingAcks where pending.subscription === subscription { pendingAcks[tag] = nil }
            subscription.unacked.removeAll()
            let consumerID = consumer.id
            host.perform { $0.removeConsumer(consumerID, requeue: true) }
        case nil:
            break
        }
        subscription.source = nil
    }

    /// The queue of a subscription went away (deleted): the subscription ends, and the client hears it
    /// as RabbitMQ's plugin says it.
    func queueWentAway(under consumer: STOMPQueueConsumer) {
        let subscription = consumer.subscription
        guard subscriptions[subscription.id] === subscription else { return }
        subscriptions[subscription.id] = nil
        for (tag, pending) in pendingAcks where pending.subscription === subscription { pendingAcks[tag] = nil }
        subscription.source = nil
        fail(
            STOMPError(
                "Subscription cancelled", detail: "The queue of subscription '\(subscription.id)' was deleted.\n"))
        flushOut()
    }

    // MARK: - ACK and NACK

    /// ACK or NACK: by `id` (1.2, the MESSAGE's `ack` header) or `message-id` (1.0, 1.1). In `client` mode
    /// it settles the message and every earlier one of its subscription. A NACK requeues unless it says
    /// `requeue:false` (then the queue dead-letters or drops it).
    func acknowledge(_ frame: STOMPFrame, accept: Bool) throws(STOMPError) {
        let text = version == .v1_2 ? try frame.required("id") : try frame.required("message-id")
        guard let tag = Self.deliveryTag(text) else {
            throw STOMPError(
                accept ? "Invalid ACK" : "Invalid NACK", detail: "'\(text)' is not a message this server sent.\n")
        }
        guard let pending = pendingAcks[tag] else { return }
        let subscription = pending.subscription
        var settled: [STOMPPendingAck] = []
        if subscription.ackMode == .client {
            var count = 0
            for earlier in subscription.unacked {
                guard earlier <= tag else { break }
                count += 1
                if let entry = pendingAcks.removeValue(forKey: earlier) { settled.append(entry) }
            }
            subscription.unacked.removeFirst(count)
        } else {
            pendingAcks[tag] = nil
            settled.append(pending)
        }
        let requeue = frame.headers["requeue"] != "false"
        // Settled at the end of the read, one hop per queue for all of the read's ACKs and NACKs.
        for entry in settled {
            let key = ObjectIdentifier(entry.host)
            if settlements[key] == nil { settlements[key] = STOMPSettlements(host: entry.host) }
            if accept {
                settlements[key]!.acks.append(entry.messageID)
            } else if requeue {
                settlements[key]!.requeues.append(entry.messageID)
            } else {
                settlements[key]!.drops.append(entry.messageID)
            }
        }
    }

    /// Hands the read's ACKs and NACKs to their queues.
    func sendSettlements() {
        guard !settlements.isEmpty else { return }
        let batches = settlements.values
        settlements.removeAll(keepingCapacity: true)
        for batch in batches {
            batch.host.perform { host in
                if !batch.acks.isEmpty { host.ack(batch.acks) }
                if !batch.requeues.isEmpty { host.reject(batch.requeues, requeue: true) }
                if !batch.drops.isEmpty { host.reject(batch.drops, requeue: false) }
            }
        }
    }

    /// The delivery tag in a message id `T_<subscription>@@<tag>` (or a bare tag).
    static func deliveryTag(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        var index = bytes.count - 1
        while index > 0 {
            if bytes[index] == UInt8(ascii: "@"), bytes[index - 1] == UInt8(ascii: "@") {
                return UInt64(String(decoding: bytes[(index + 1)...], as: UTF8.self))
            }
            index -= 1
        }
        return UInt64(text)
    }
}
