import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import STOMPWire

/// SEND (1.2 §"SEND"): `/topic/` is a bus publish (what `amq.topic` is), every other destination goes
/// through the queue broker. A receipt for a message a queue takes goes out once every queue holds it
/// (a persistent message in a durable queue: once it is stored), as RabbitMQ answers receipts after
/// its publisher confirms.
extension STOMPConnectionHandler {
    /// The bus topic of messages that only travel between queues (their routing key is what counts).
    static let queueTopic = Topic(trusted: "$amqp/queue")

    /// Runs a SEND; true when its receipt is answered later (by the queues that take it).
    func send(_ frame: STOMPFrame) throws(STOMPError) -> Bool {
        let text = try frame.required("destination")
        guard let destination = STOMPDestination(text) else { throw STOMPDestination.unknown(text) }
        let now = bus.clock()
        var replyTo = frame.headers["reply-to"]
        if let reply = replyTo, case .temporaryQueue(let name)? = STOMPDestination(reply) {
            replyTo = "/reply-queue/" + (try temporaryQueue(name))
        }
        switch destination {
        case .topic(let key):
            return try publishToBus(frame, key: key, replyTo: replyTo, now: now)
        case .exchange(let exchange, let key) where exchange == QueueBroker.busExchange:
            return try publishToBus(frame, key: key, replyTo: replyTo, now: now)
        case .queue(let name):
            if !declaredQueues.contains(name) {
                _ = try declareQueue(name, frame: frame)
                declaredQueues.insert(name)
            }
            try checkWrite("")
            try publishToQueues(frame, exchange: "", key: name, replyTo: replyTo, now: now)
            return true
        case .amqQueue(let name):
            try checkWrite("")
            try publishToQueues(frame, exchange: "", key: name, replyTo: replyTo, now: now, existing: true)
            return true
        case .replyQueue(let name):
            // Publishing needs the queue to exist, not to be ours (a reply queue is its requester's, and
            // answering it needs no permission, as RabbitMQ's direct replies need none).
            try publishToQueues(frame, exchange: "", key: name, replyTo: replyTo, now: now, existing: true)
            return true
        case .exchange(let exchange, let key):
            try checkWrite(exchange)
            try publishToQueues(frame, exchange: exchange, key: key, replyTo: replyTo, now: now)
            return true
        case .temporaryQueue:
            throw STOMPError(
                "Invalid destination", detail: "A /temp-queue/ destination is only valid in a reply-to header.\n")
        }
    }

    /// `/topic/<key>`: the topic `key` names (`a.b` → `a/b`), published on the bus like any protocol's.
    /// True when the receipt is answered later: a SEND with a receipt to a topic streams capture is
    /// receipted once every stream stored it (as AMQP's confirms and MQTT's QoS 1/2 acks wait), and one a
    /// stream refused gets an ERROR naming the receipt instead.
    private func publishToBus(_ frame: STOMPFrame, key: String, replyTo: String?, now: UInt64) throws(STOMPError)
        -> Bool
    {
        let topic: Topic
        if key == lastSendKey, let lastSendTopic {
            topic = lastSendTopic
        } else {
            guard let name = RoutingKeyMapping.topicName(forRoutingKey: key),
                let parsed = try? Topic(name, limits: bus.configuration.topicLimits)
            else {
                throw STOMPError("Invalid destination", detail: "'/topic/\(key)' names no topic.\n")
            }
            guard identity.permissions.mayPublish(parsed) else {
                services.counters.countPermissionDenied()
                throw STOMPError(
                    "Access refused",
                    detail: "Access to topic '\(name)' refused for user '\(identity.userID ?? "guest")'\n")
            }
            topic = parsed
            lastSendKey = key
            lastSendTopic = parsed
        }
        // docs/topics.md, "Payload schemas": an ERROR (with the SEND's receipt-id, added by the caller)
        // naming the failing JSON Pointer; STOMP 1.2 closes the connection after any ERROR.
        if let violation = services.payloadSchemas.check(
            topic, payload: frame.body, contentType: frame.headers["content-type"])
        {
            throw STOMPError("Invalid payload", detail: "\(violation.description)\n")
        }
        publishedInRead += 1
        publishedBytesInRead += frame.body.readableBytes
        guard shard.isRouted(topic) else { return false }
        let headers = try STOMPMessageMapping.headers(
            frame, replyTo: replyTo, now: now, limits: bus.configuration.topicLimits)
        let message = BusMessage(
            topic: topic, payload: frame.body, headers: headers, publisherID: connectionID, timestamp: now)
        guard let receipt = frame.receipt, shard.waitsForStorage(topic) else {
            shard.publish(message)
            return false
        }
        shard.publish(message, placement: nil) { [self] acks in
            guard context != nil, !machine.isClosing else { return }
            if let refused = acks.first(where: { if case .refused = $0.outcome { true } else { false } }) {
                var error = STOMPError("Message rejected", detail: "\(refused)\n")
                error.receiptID = receipt
                fail(error)
            } else {
                writeReceipt(receipt)
                if !isReading { flushOut() }
            }
        }
        return true
    }

    /// A publish through the broker to `exchange` with `key`; queues take this read's publishes in one
    /// batch, or at once when the SEND wants a receipt.
    /// `existing`: the key names a queue that must exist (`/amq/queue/`, `/reply-queue/`).
    private func publishToQueues(
        _ frame: STOMPFrame, exchange: String, key: String, replyTo: String?, now: UInt64, existing: Bool = false
    ) throws(STOMPError) {
        let hosts: [QueueHost]
        do throws(BrokerRefusal) {
            hosts = try routes.route(broker, exchange: exchange, routingKey: key, headers: { [:] })
        } catch {
            throw Self.refused(error)
        }
        if existing && hosts.isEmpty {
            throw Self.refused(BrokerRefusal(.notFound, "no queue '\(key)' in vhost '\(broker.virtualHost)'"))
        }
        publishedInRead += 1
        publishedBytesInRead += frame.body.readableBytes
        let receipt = frame.receipt
        guard !hosts.isEmpty else {
            if let receipt { writeReceipt(receipt) }
            return
        }
        let headers = try STOMPMessageMapping.headers(
            frame, replyTo: replyTo, now: now, limits: bus.configuration.topicLimits)
        let message = BusMessage(
            topic: Self.queueTopic, payload: frame.body, headers: headers, publisherID: connectionID, timestamp: now)
        let publication = QueuePublication(
            message: BrokeredMessage(message: message), bytes: frame.body.readableBytes,
            priority: headers.priority ?? 0, timeToLive: try STOMPMessageMapping.timeToLive(frame),
            persistent: STOMPMessageMapping.persistent(frame), exchange: exchange, routingKeys: [key])
        guard let receipt else {
            for host in hosts {
                outbox[ObjectIdentifier(host), default: (host, [])].publications.append(publication)
            }
            return
        }
        // Earlier publishes of this read go first, so the receipt covers them too.
        sendOutbox()
        let waiting = ReceiptWait(receipt: receipt, outstanding: hosts.count)
        let loop = eventLoop
        for host in hosts {
            host.perform { host in
                host.enqueue([publication]) { _ in
                    loop.execute { [self] in
                        waiting.outstanding -= 1
                        guard waiting.outstanding == 0, context != nil, !machine.isClosing else { return }
                        writeReceipt(waiting.receipt)
                        if !isReading { flushOut() }
                    }
                }
            }
        }
    }

    /// Hands this read's publishes to their queues: one batch per queue (a queue on another loop gets one
    /// hop).
    func sendOutbox() {
        guard !outbox.isEmpty else { return }
        let batches = outbox.values
        outbox.removeAll(keepingCapacity: true)
        for (host, publications) in batches {
            if host.eventLoop === eventLoop {
                host.enqueue(publications)
            } else {
                host.perform { $0.enqueue(publications) }
            }
        }
    }

    /// `/queue/<name>` declared as RabbitMQ's plugin declares it: durable, neither exclusive nor
    /// auto-delete unless the frame's `durable`, `auto-delete` and `exclusive` headers say otherwise, with
    /// its `x-` headers as arguments.
    func declareQueue(_ name: String, frame: STOMPFrame) throws(STOMPError) -> QueueHost {
        let headers = frame.headers
        var declared: [String: HeaderValue] = [:]
        for header in headers where header.name.hasPrefix("x-") && declared[header.name] == nil {
            if let number = Int64(header.value) {
                declared[header.name] = .integer(number)
            } else {
                declared[header.name] = .string(header.value)
            }
        }
        let exclusive = headers["exclusive"] == "true"
        do throws(BrokerRefusal) {
            try checkAccess(.configure, "queue", name)
            let declaration = QueueBroker.QueueDeclaration(
                name: name, durable: headers["durable"] != "false", exclusive: exclusive,
                autoDelete: headers["auto-delete"] == "true",
                arguments: try QueueArguments(declared: declared, queue: name), declaredArguments: declared)
            if let existing = try? broker.queue(name, owner: connectionID) { return existing }
            return try broker.declareQueue(declaration, owner: connectionID, on: eventLoop).host
        } catch {
            throw Self.refused(error)
        }
    }

    /// The private queue of `/temp-queue/<name>`, made and subscribed to on first use: replies sent to
    /// `/reply-queue/<queue>` come back as MESSAGEs of the subscription `/temp-queue/<name>`.
    func temporaryQueue(_ name: String) throws(STOMPError) -> String {
        if let queue = temporaryQueues[name] { return queue }
        let queue = "amq.gen-" + bus.makeIdentifier() + bus.makeIdentifier()
        let host: QueueHost
        do throws(BrokerRefusal) {
            host = try broker.declareQueue(
                QueueBroker.QueueDeclaration(name: queue, exclusive: true, autoDelete: true), owner: connectionID,
                on: eventLoop
            ).host
        } catch {
            throw Self.refused(error)
        }
        temporaryQueues[name] = queue
        let subscription = STOMPSubscription(
            id: "/temp-queue/" + name, destination: "/temp-queue/" + name, ackMode: .auto)
        try consume(host, for: subscription, prefetch: 0)
        return queue
    }

    /// RabbitMQ's resource check in the virtual host `/` (docs/security.md): an `access_refused` ERROR with
    /// AMQP's text. `/topic/` destinations are the bus and answer to topic permissions instead.
    func checkAccess(_ access: ResourcePermissions.Access, _ kind: String, _ name: String) throws(BrokerRefusal) {
        let resources = identity.permissions.resources
        guard !resources.isUnrestricted else { return }
        do throws(BrokerRefusal) {
            try resources.check(access, kind, name, in: broker.virtualHost, user: identity.userID)
        } catch {
            services.counters.countPermissionDenied()
            throw error
        }
    }

    /// Write permission on `exchange` for a SEND, asked once per exchange while the login stays the same.
    private func checkWrite(_ exchange: String) throws(STOMPError) {
        guard !identity.permissions.resources.isUnrestricted, !writableExchanges.contains(exchange) else { return }
        do throws(BrokerRefusal) { try checkAccess(.write, "exchange", exchange) } catch { throw Self.refused(error) }
        writableExchanges.insert(exchange)
    }

    /// A broker refusal as an ERROR (RabbitMQ's STOMP plugin reports AMQP errors by their names).
    static func refused(_ refusal: BrokerRefusal) -> STOMPError {
        let name =
            switch refusal.kind {
            case .accessRefused: "access_refused"
            case .notFound: "not_found"
            case .resourceLocked: "resource_locked"
            case .preconditionFailed: "precondition_failed"
            case .notAllowed: "not_allowed"
            }
        return STOMPError(name, detail: refusal.text + "\n")
    }
}

/// A SEND's receipt waiting for the queues that take its message.
final class ReceiptWait: @unchecked Sendable {
    let receipt: String
    var outstanding: Int

    init(receipt: String, outstanding: Int) {
        self.receipt = receipt
        self.outstanding = outstanding
    }
}
