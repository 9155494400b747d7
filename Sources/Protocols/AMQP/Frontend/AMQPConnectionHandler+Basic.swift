import AMQPWire
import Atomics
import BusCore
import BusRuntime
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore

/// The basic class (AMQP 0-9-1 §1.8): publishing (with `mandatory`, publisher confirms and
/// transactions), consumers, `basic.get`, acknowledgements and `basic.qos`.
extension AMQPConnectionHandler {
    /// The bus topic of messages that only travel between queues (their routing key is what counts).
    static let queueTopic = Topic(trusted: "$amqp/queue")

    func basicMethod(_ method: AMQPBasicMethod, on channel: AMQPChannel) {
        switch method {
        case .qos(let qos):
            guard qos.prefetchSize == 0 else {
                return fail(
                    .exception(.notImplemented, "prefetch_size!=0 (\(qos.prefetchSize))", classID: 60, methodID: 10),
                    on: channel)
            }
            if qos.global {
                // One window for all the channel's consumers (RabbitMQ with per_consumer_qos).
                channel.window.setLimit(Int(qos.prefetchCount))
                if qos.prefetchCount == 0 { resumeConsumers(of: channel) }
            } else {
                channel.prefetchCount = Int(qos.prefetchCount)
            }
            write(.basic(.qosOk), channel: channel.number)
        case .consume(let consume):
            self.consume(consume, on: channel)
        case .cancel(let tag, let noWait):
            if let reply = channel.directReply, reply.consumerTag == tag {
                services.directReplies.withLockedValue { _ = $0.removeValue(forKey: reply.address) }
                channel.directReply = nil
                endDirectReplyInbox(of: channel)
            }
            if let consumer = channel.consumers.removeValue(forKey: tag) {
                let id = consumer.id
                consumer.host.perform { $0.removeConsumer(id, requeue: false) }
            }
            if !noWait { write(.basic(.cancelOk(consumerTag: tag)), channel: channel.number) }
        case .get(let queue, let noAck):
            get(queue: queue, noAck: noAck, on: channel)
        case .ack(let tag, let multiple):
            if channel.transactional {
                channel.transaction.append(.ack(tag: tag, multiple: multiple))
                return
            }
            settle(tag: tag, multiple: multiple, on: channel, methodID: 80)
        case .nack(let tag, let multiple, let requeue):
            if channel.transactional {
                channel.transaction.append(.reject(tag: tag, multiple: multiple, requeue: requeue))
                return
            }
            reject(tag: tag, multiple: multiple, requeue: requeue, on: channel, methodID: 120)
        case .reject(let tag, let requeue):
            if channel.transactional {
                channel.transaction.append(.reject(tag: tag, multiple: false, requeue: requeue))
                return
            }
            reject(tag: tag, multiple: false, requeue: requeue, on: channel, methodID: 90)
        case .recover, .recoverAsync:
            // Everything unsettled goes back, redelivered (RabbitMQ treats requeue=false the same way).
            let settled = channel.settleAll()
            for (host, ids) in settled.groupedByHost() {
                host.perform { $0.reject(ids, requeue: true) }
            }
            reopenWindow(of: channel, settled: settled)
            if case .recover = method { write(.basic(.recoverOk), channel: channel.number) }
        case .publish:
            // A publish without its content: the assembler only lets complete ones through.
            break
        case .qosOk, .consumeOk, .cancelOk, .return, .deliver, .getOk, .getEmpty, .recoverOk:
            fail(
                .exception(
                    .commandInvalid, "unexpected method basic.\(method.methodID)", classID: 60,
                    methodID: method.methodID), on: channel)
        }
    }

    // MARK: - Publishing

    func publishReceived(_ content: AMQPContentAssembler.Content, on channel: AMQPChannel) {
        if channel.transactional {
            channel.transaction.append(.publish(content))
            return
        }
        publish(content, on: channel)
    }

    /// Routes one message: `amq.topic` through the bus, every other exchange to its queues (a queue on
    /// this loop takes it at once, one on another loop with the rest of this read's batch).
    func publish(_ content: AMQPContentAssembler.Content, on channel: AMQPChannel) {
        guard case .basic(.publish(let publish)) = content.method else { return }
        if !hasPublished {
            hasPublished = true
            // A first publish while the broker is blocked: this publisher hears it now.
            if services.blocked.load(ordering: .relaxed) {
                flowChanged(blocked: true)
            }
        }
        var properties = content.properties
        if properties.replyTo == DirectReplyConsumer.queue {
            // A request that wants its reply on this channel's direct reply-to consumer: the reply address
            // names it (RabbitMQ's fast reply-to).
            guard let reply = channel.directReply else {
                return fail(
                    .exception(
                        .preconditionFailed, "fast reply consumer does not exist", classID: 60, methodID: 40),
                    on: channel)
            }
            properties.replyTo = reply.address
        }
        if let userID = properties.userID, userID != (identity.userID ?? "guest") {
            return fail(
                .exception(
                    .preconditionFailed,
                    "user_id property set to '\(userID)' but authenticated user was '\(identity.userID ?? "guest")'",
                    classID: 60, methodID: 40), on: channel)
        }
        if !identity.permissions.resources.isUnrestricted, !writableExchanges.contains(publish.exchange) {
            // Write permission on the exchange, asked once per exchange name while the login stays the same
            // (a refusal closes the channel).
            do throws(BrokerRefusal) { try checkAccess(.write, "exchange", publish.exchange) } catch {
                return fail(error, on: channel, classID: 60, methodID: 40)
            }
            writableExchanges.insert(publish.exchange)
        }
        guard AMQPMessageMapping.expirationIsValid(properties) else {
            return fail(
                .exception(
                    .preconditionFailed, "invalid expiration '\(properties.expiration ?? "")'", classID: 60,
                    methodID: 40), on: channel)
        }
        let sequence: UInt64? = channel.confirming ? channel.nextPublishSequence : nil
        if channel.confirming { channel.nextPublishSequence += 1 }
        let now = publishClock()
        let headers = AMQPMessageMapping.headers(
            properties, now: now, topicPrefix: broker.topicPrefix, limits: bus.configuration.topicLimits)
        let exchange = publish.exchange
        let routingKeys = Self.routingKeys(publish.routingKey, properties)
        let messageHeaders = { AMQPMessageMapping.headerValues(properties.headers) }

        if exchange == QueueBroker.busExchange,
            let name = broker.busTopicName(forRoutingKey: publish.routingKey),
            let topic = try? Topic(name, limits: bus.configuration.topicLimits)
        {
            guard identity.permissions.mayPublish(topic) else {
                services.counters.countPermissionDenied()
                return fail(
                    .exception(
                        .accessRefused, "access to topic '\(name)' refused for user '\(identity.userID ?? "guest")'",
                        classID: 60, methodID: 40), on: channel)
            }
            if let violation = services.payloadSchemas.check(
                topic, payload: content.body, contentType: properties.contentType)
            {
                // docs/topics.md, "Payload schemas". RabbitMQ has no payload validation; what it does with a
                // message it will not take (a queue's `x-overflow: reject-publish`) is what its users
                // handle: a confirming channel gets basic.nack; otherwise a mandatory publish comes back
                // as basic.return, here 406 PRECONDITION_FAILED with the failing JSON Pointer as reply
                // text; a plain publish is dropped, as an unroutable one is. The channel stays open.
                if let sequence {
                    writeConfirm(sequence, ack: false, on: channel)
                } else if publish.mandatory {
                    writeReturn(
                        publish, content, on: channel, code: .preconditionFailed,
                        text: "PRECONDITION_FAILED - \(violation.description)")
                }
                return
            }
            let unroutable =
                publish.mandatory
                && broker.isUnroutable(exchange: exchange, routingKeys: routingKeys, headers: messageHeaders)
            let message = BusMessage(
                topic: topic, payload: content.body, headers: headers, publisherID: connectionID, timestamp: now)
            let shard = bus.shard(for: eventLoop)
            if let sequence, shard.waitsForStorage(topic) {
                // Confirmed once every stream capturing the topic stored it (nack when one refused it).
                channel.pendingConfirms[sequence] = (1, false)
                let number = channel.number
                shard.publish(message, placement: nil) { [self] acks in
                    let refused = acks.contains { if case .refused = $0.outcome { true } else { false } }
                    confirmAnswered(channel: number, sequence: sequence, accepted: !refused)
                }
                if unroutable { writeReturn(publish, content, on: channel) }
                return
            }
            shard.publish(message)
            if unroutable { writeReturn(publish, content, on: channel) }
            if let sequence { writeConfirm(sequence, ack: true, on: channel) }
            return
        }

        if exchange.isEmpty, publish.routingKey.hasPrefix(DirectReplyConsumer.addressPrefix) {
            // A reply to a direct reply-to consumer: straight to its channel, wherever it is.
            let target = services.directReplies.withLockedValue { $0[publish.routingKey] }
            if let target {
                let body = content.body
                let key = publish.routingKey
                let replyProperties = properties
                target.connection.eventLoop.execute {
                    target.connection.deliverDirectReply(
                        to: target, routingKey: key, properties: replyProperties, body: body)
                }
            } else if bus.engine != nil,
                let inbox = DirectReplyInbox.topic(
                    forAddress: publish.routingKey, limits: bus.configuration.topicLimits)
            {
                // Not a consumer of this instance: it may be another's, which holds the address's inbox.
                bus.shard(for: eventLoop).publish(
                    BusMessage(
                        topic: inbox, payload: content.body, headers: headers, publisherID: connectionID,
                        timestamp: now))
            } else if publish.mandatory {
                writeReturn(publish, content, on: channel)
            }
            if let sequence { writeConfirm(sequence, ack: true, on: channel) }
            return
        }
        let hosts: [QueueHost]
        do throws(BrokerRefusal) {
            hosts =
                routingKeys.count == 1
                ? try routes.route(broker, exchange: exchange, routingKey: routingKeys[0], headers: messageHeaders)
                : try broker.route(exchange: exchange, routingKeys: routingKeys, headers: messageHeaders)
        } catch {
            return fail(error, on: channel, classID: 60, methodID: 40)
        }
        if hosts.isEmpty {
            if publish.mandatory { writeReturn(publish, content, on: channel) }
            // RabbitMQ confirms a message no queue took.
            if let sequence { writeConfirm(sequence, ack: true, on: channel) }
            return
        }
        let message = BusMessage(
            topic: Self.queueTopic, payload: content.body, headers: headers, publisherID: connectionID, timestamp: now)
        let publication = QueuePublication(
            message: BrokeredMessage(message: message), bytes: content.body.readableBytes,
            priority: properties.priority ?? 0, timeToLive: AMQPMessageMapping.timeToLive(properties),
            persistent: properties.deliveryMode == 2, exchange: exchange, routingKeys: routingKeys)
        // With confirms, each queue answers once it holds the message (a durable queue: once it is stored);
        // the confirm goes out when every queue answered.
        if let sequence { channel.pendingConfirms[sequence] = (hosts.count, false) }
        // Every queue, on this loop or another, takes this read's publications in one batch at the end of
        // the read: one dispatch (and one write to each consumer) per read, not per message.
        let confirm = sequence.map { (channel.number, $0) } ?? (0, 0)
        for host in hosts {
            let key = ObjectIdentifier(host)
            // One lookup, modified in place.
            outbox[key, default: (host, [], [])].publications.append(publication)
            outbox[key]!.confirms.append(confirm)
        }
    }

    /// One queue's answer to a confirmed publish; the confirm goes out with the last answer (a nack when any
    /// queue refused it or could not store it).
    func confirmAnswered(channel number: UInt16, sequence: UInt64, accepted: Bool) {
        guard let channel = channels[number], var pending = channel.pendingConfirms[sequence] else { return }
        pending.outstanding -= 1
        if !accepted { pending.refused = true }
        guard pending.outstanding == 0 else {
            channel.pendingConfirms[sequence] = pending
            return
        }
        channel.pendingConfirms[sequence] = nil
        writeConfirm(sequence, ack: !pending.refused, on: channel)
        // An answer that came after the read (a store commit) goes out with the others of this loop turn;
        // during a read, at its end.
        if !isReading { scheduleConfirmFlush() }
    }

    /// Writes the confirms answered so far once the loop has run the tasks already waiting: a store commit
    /// answers many batches, each in its own task, and one write for all of them replaces one per batch
    /// (a write per answer was 28% of the server in the confirms benchmark).
    func scheduleConfirmFlush() {
        guard !confirmFlushScheduled else { return }
        confirmFlushScheduled = true
        eventLoop.execute { [self] in
            confirmFlushScheduled = false
            flushConfirms()
            flushOut()
        }
    }

    /// The routing key, then the `CC` and `BCC` headers' keys (RabbitMQ's sender-selected distribution;
    /// keys longer than a routing key may be are ignored).
    private static func routingKeys(_ key: String, _ properties: AMQPBasicProperties) -> [String] {
        guard let headers = properties.headers, headers["CC"] != nil || headers["BCC"] != nil else { return [key] }
        var keys = [key]
        for name in ["CC", "BCC"] {
            if case .array(let values)? = headers[name] {
                keys += values.compactMap(\.stringValue).filter { $0.utf8.count <= AMQPLimits.maxShortStringBytes }
            }
        }
        return keys
    }

    /// Hands this read's publishes to their queues: one batch per queue (a queue on another loop gets one
    /// hop), whose answer settles the confirms waiting for it.
    func sendOutbox() {
        guard !outbox.isEmpty else { return }
        let batches = outbox.values
        outbox.removeAll(keepingCapacity: true)
        let loop = eventLoop
        for (host, publications, confirms) in batches {
            let confirming = confirms.contains { $0.1 != 0 }
            if host.eventLoop === loop {
                if confirming {
                    host.enqueue(publications) { [self] accepted in answered(confirms, accepted) }
                } else {
                    host.enqueue(publications)
                }
                continue
            }
            guard confirming else {
                host.perform { $0.enqueue(publications) }
                continue
            }
            host.perform { host in
                host.enqueue(publications) { accepted in
                    loop.execute { [self] in answered(confirms, accepted) }
                }
            }
        }
    }

    private func answered(_ confirms: [(UInt16, UInt64)], _ accepted: [Bool]) {
        for (index, (number, sequence)) in confirms.enumerated() where sequence != 0 {
            confirmAnswered(channel: number, sequence: sequence, accepted: index < accepted.count && accepted[index])
        }
    }

    /// Notes a publish's confirm; `flushConfirms` writes them, coalesced.
    private func writeConfirm(_ sequence: UInt64, ack: Bool, on channel: AMQPChannel) {
        guard case .open = channel.state else { return }
        channel.confirmAnswers[sequence] = ack
    }

    /// Writes the confirms settled so far, in sequence order: a run of acks as one `basic.ack` with
    /// `multiple` (as RabbitMQ does), a nack on its own. A confirm waits for every earlier one.
    func flushConfirms() {
        for channel in channels.values where !channel.confirmAnswers.isEmpty {
            guard case .open = channel.state else {
                channel.confirmAnswers.removeAll()
                continue
            }
            var acked: UInt64?
            while let ack = channel.confirmAnswers.removeValue(forKey: channel.nextConfirmToSend) {
                if ack {
                    acked = channel.nextConfirmToSend
                } else {
                    if let upTo = acked {
                        write(.basic(.ack(deliveryTag: upTo, multiple: true)), channel: channel.number)
                    }
                    acked = nil
                    write(
                        .basic(.nack(deliveryTag: channel.nextConfirmToSend, multiple: false, requeue: false)),
                        channel: channel.number)
                }
                channel.nextConfirmToSend += 1
            }
            if let upTo = acked {
                // One confirm alone goes without `multiple`: the form clients see most from RabbitMQ.
                let multiple = channel.lastConfirmWritten + 1 < upTo
                write(.basic(.ack(deliveryTag: upTo, multiple: multiple)), channel: channel.number)
            }
            channel.lastConfirmWritten = channel.nextConfirmToSend - 1
        }
    }

    /// `basic.return` 312 NO_ROUTE with the message, for a mandatory publish no queue took.
    /// basic.return of a mandatory publish: 312 NO_ROUTE by default; a payload schema's refusal passes
    /// 406 and its reason (cut to the 255 bytes of a shortstr).
    private func writeReturn(
        _ publish: AMQPBasicPublish, _ content: AMQPContentAssembler.Content, on channel: AMQPChannel,
        code: AMQPReplyCode = .noRoute, text: String = "NO_ROUTE"
    ) {
        var replyText = text
        while replyText.utf8.count > 255 { replyText.removeLast() }
        AMQPDeliveryEncoder.write(
            .basic(
                .return(
                    AMQPBasicReturn(
                        replyCode: code.rawValue, replyText: replyText, exchange: publish.exchange,
                        routingKey: publish.routingKey))),
            channel: channel.number, content: AMQPEncodedContent(properties: content.properties, body: content.body),
            frameMax: frameMax, to: &out)
    }

    // MARK: - Consumers

    private func consume(_ consume: AMQPBasicConsume, on channel: AMQPChannel) {
        if consume.queue == DirectReplyConsumer.queue { return consumeDirectReplies(consume, on: channel) }
        let host: QueueHost
        do throws(BrokerRefusal) {
            try checkAccess(.read, "queue", consume.queue)
            host = try broker.queue(consume.queue, owner: connectionID)
        } catch {
            return fail(error, on: channel, classID: 60, methodID: 20)
        }
        let tag = consume.consumerTag.isEmpty ? "amq.ctag-" + bus.makeIdentifier() : consume.consumerTag
        guard channel.consumers[tag] == nil else {
            return run(
                machine.errorRaised(
                    .exception(.notAllowed, "attempt to reuse consumer tag '\(tag)'", classID: 60, methodID: 20)))
        }
        let id = broker.makeConsumerID()
        let consumer = AMQPConsumer(
            tag: tag, id: id, host: host, noAck: consume.noAck, channelNumber: channel.number, connection: self,
            writable: writable, window: channel.window)
        var priority = 0
        if case .integer(let value)? = consume.arguments["x-priority"].map(AMQPMessageMapping.headerValue) {
            priority = Int(clamping: value)
        }
        let registration = QueueConsumer(
            id: id, tag: tag, prefetch: channel.prefetchCount, ackMode: consume.noAck ? .automatic : .manual,
            exclusive: consume.exclusive, priority: priority)
        channel.consumers[tag] = consumer
        let noWait = consume.noWait
        awaitOwnedAnswer(
            from: host,
            { host -> BrokerRefusal? in
                do throws(BrokerRefusal) {
                    try host.addConsumer(registration, sink: consumer, dispatch: false)
                    return nil
                } catch { return error }
            }
        ) { handler, result in
            let refusal: BrokerRefusal? =
                switch result {
                case .success(let refusal): refusal
                case .failure(let refusal): refusal
                }
            if let refusal {
                channel.consumers[tag] = nil
                return handler.fail(refusal, on: channel, classID: 60, methodID: 20)
            }
            if !noWait { handler.write(.basic(.consumeOk(consumerTag: tag)), channel: channel.number) }
            // Deliveries start after consume-ok.
            host.resume()
        }
    }

    /// `basic.consume` of `amq.rabbitmq.reply-to`: no-ack only, one per channel (RabbitMQ's rules and texts).
    private func consumeDirectReplies(_ consume: AMQPBasicConsume, on channel: AMQPChannel) {
        guard consume.noAck else {
            return fail(
                .exception(.preconditionFailed, "reply consumer cannot acknowledge", classID: 60, methodID: 20),
                on: channel)
        }
        guard channel.directReply == nil else {
            return fail(
                .exception(.preconditionFailed, "reply consumer already set", classID: 60, methodID: 20), on: channel)
        }
        let tag = consume.consumerTag.isEmpty ? "amq.ctag-" + bus.makeIdentifier() : consume.consumerTag
        let reply = DirectReplyConsumer(
            connection: self, channel: channel.number, consumerTag: tag,
            address: DirectReplyConsumer.addressPrefix + bus.makeIdentifier() + bus.makeIdentifier())
        channel.directReply = reply
        services.directReplies.withLockedValue { $0[reply.address] = reply }
        if let topic = DirectReplyInbox.topic(forAddress: reply.address, limits: bus.configuration.topicLimits),
            let filter = try? TopicFilter(topic.name)
        {
            // The address is a bus topic too: a responder of another protocol answers there, and so does a
            // worker on another instance when instances are joined (`DirectReplyInbox`).
            let inbox = DirectReplyInbox(connection: self, target: reply, metricsSlot: broker.metricsSlot)
            channel.directReplyInbox =
                bus.subscribe(filter, subscriber: inbox, subscriberID: connectionID).subscription
        }
        if !consume.noWait { write(.basic(.consumeOk(consumerTag: tag)), channel: channel.number) }
    }

    /// Ends the bus inbox of the channel's direct reply-to consumer, if it has one.
    func endDirectReplyInbox(of channel: AMQPChannel) {
        guard let inbox = channel.directReplyInbox else { return }
        channel.directReplyInbox = nil
        bus.unsubscribe(inbox)
    }

    /// A reply for this connection's direct reply-to consumer (on this loop); dropped when the consumer
    /// is gone, as RabbitMQ drops it.
    func deliverDirectReply(
        to target: DirectReplyConsumer, routingKey: String, properties: AMQPBasicProperties, body: ByteBuffer
    ) {
        guard let channel = channels[target.channel], channel.directReply?.address == target.address,
            case .open = channel.state
        else { return }
        AMQPDeliveryEncoder.writeDeliver(
            channel: channel.number, consumerTag: target.consumerTag, deliveryTag: channel.untrackedTag(),
            redelivered: false, exchange: "", routingKey: routingKey,
            content: AMQPEncodedContent(properties: properties, body: body), frameMax: frameMax, to: &out)
        flushOut()
    }

    /// A delivery for `consumer` (on this loop). One for a consumer that is gone goes back to its queue.
    func deliver(_ delivery: QueueDelivery<BrokeredMessage>, to consumer: AMQPConsumer) {
        let message = delivery.message
        guard let channel = channels[consumer.channelNumber], channel.consumers[consumer.tag] === consumer,
            case .open = channel.state
        else {
            if !consumer.noAck {
                let id = message.id
                _ = consumer.window.give(1)
                consumer.host.perform { $0.reject([id], requeue: true) }
            }
            return
        }
        let tag =
            consumer.noAck
            ? channel.untrackedTag() : channel.track(host: consumer.host, messageID: message.id, windowed: true)
        let bus = message.payload.message
        if message.payload.deaths.isEmpty {
            // An AMQP publisher's property bytes go out as they came, and a message with no headers at all
            // has none: either way the content header is written in place.
            let propertyBytes: ByteBuffer? =
                if let native = bus.headers.native, native.protocolName == AMQPMessageMapping.protocolName {
                    native.bytes
                } else if bus.headers.isEmpty {
                    AMQPMessageMapping.noPropertyBytes
                } else {
                    nil
                }
            if let propertyBytes {
                return AMQPDeliveryEncoder.writeDeliver(
                    channel: channel.number, consumerTag: consumer.tag, deliveryTag: tag,
                    redelivered: message.redelivered, exchange: message.exchange,
                    routingKey: message.routingKeys.first ?? "", propertyBytes: propertyBytes, body: bus.payload,
                    frameMax: frameMax, to: &out)
            }
        }
        AMQPDeliveryEncoder.writeDeliver(
            channel: channel.number, consumerTag: consumer.tag, deliveryTag: tag, redelivered: message.redelivered,
            exchange: message.exchange, routingKey: message.routingKeys.first ?? "",
            content: AMQPMessageMapping.content(
                message.payload.message, deaths: message.payload.deaths, topicPrefix: broker.topicPrefix),
            frameMax: frameMax, to: &out)
    }

    /// The queue went away under a consumer: `basic.cancel` from the server (RabbitMQ's
    /// consumer_cancel_notify).
    func consumerCancelledByServer(_ consumer: AMQPConsumer) {
        guard let channel = channels[consumer.channelNumber], channel.consumers[consumer.tag] === consumer else {
            return
        }
        channel.consumers[consumer.tag] = nil
        write(.basic(.cancel(consumerTag: consumer.tag, noWait: true)), channel: channel.number)
        flushOut()
    }

    // MARK: - basic.get

    private func get(queue: String, noAck: Bool, on channel: AMQPChannel) {
        let host: QueueHost
        do throws(BrokerRefusal) {
            try checkAccess(.read, "queue", queue)
            host = try broker.queue(queue, owner: connectionID)
        } catch {
            return fail(error, on: channel, classID: 60, methodID: 70)
        }
        awaitOwnedAnswer(
            from: host,
            { host -> (QueueMessage<BrokeredMessage>?, Int) in
                guard let result = host.get(autoAck: noAck) else { return (nil, 0) }
                return (result.message, result.remaining)
            }
        ) { handler, answer in
            guard case .open = channel.state else { return }
            let result: (QueueMessage<BrokeredMessage>?, Int)
            switch answer {
            case .success(let got): result = got
            case .failure(let refusal): return handler.fail(refusal, on: channel, classID: 60, methodID: 70)
            }
            guard let message = result.0 else {
                return handler.write(.basic(.getEmpty), channel: channel.number)
            }
            let tag = noAck ? channel.untrackedTag() : channel.track(host: host, messageID: message.id)
            AMQPDeliveryEncoder.write(
                .basic(
                    .getOk(
                        AMQPBasicGetOk(
                            deliveryTag: tag, redelivered: message.redelivered, exchange: message.exchange,
                            routingKey: message.routingKeys.first ?? "", messageCount: UInt32(clamping: result.1)))),
                channel: channel.number,
                content: AMQPMessageMapping.content(
                    message.payload.message, deaths: message.payload.deaths, topicPrefix: handler.broker.topicPrefix),
                frameMax: handler.frameMax, to: &handler.out)
        }
    }

    // MARK: - Acknowledgements

    func settle(tag: UInt64, multiple: Bool, on channel: AMQPChannel, methodID: UInt16) {
        guard let settled = channel.settle(tag: tag, multiple: multiple) else {
            return fail(
                .exception(.preconditionFailed, "unknown delivery tag \(tag)", classID: 60, methodID: methodID),
                on: channel)
        }
        for (host, ids) in settled.groupedByHost() {
            host.perform { $0.ack(ids) }
        }
        reopenWindow(of: channel, settled: settled)
    }

    /// Settled deliveries give their units back to the channel's window; queues it refused dispatch again.
    func reopenWindow(of channel: AMQPChannel, settled: [AMQPChannel.Unacked]) {
        let units = settled.count(where: \.windowed)
        if channel.window.give(units) { resumeConsumers(of: channel) }
    }

    private func resumeConsumers(of channel: AMQPChannel) {
        for consumer in channel.consumers.values { consumer.host.resume() }
    }

    func reject(tag: UInt64, multiple: Bool, requeue: Bool, on channel: AMQPChannel, methodID: UInt16) {
        guard let settled = channel.settle(tag: tag, multiple: multiple) else {
            return fail(
                .exception(.preconditionFailed, "unknown delivery tag \(tag)", classID: 60, methodID: methodID),
                on: channel)
        }
        for (host, ids) in settled.groupedByHost() {
            host.perform { $0.reject(ids, requeue: requeue) }
        }
        reopenWindow(of: channel, settled: settled)
    }
}
