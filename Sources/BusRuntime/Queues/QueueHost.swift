package import BusCore
package import NIOCore
package import Storage

/// One queue at home on one event loop (the loop of the connection that declared it): its
/// `MessageQueue`, its consumers' sinks, its timers, and its bus subscriptions when it is bound to
/// `amq.topic`. Every method runs on `eventLoop`; callers elsewhere hop with `perform` (the broker's
/// callers batch their publishes and acks per read, so a hop carries many). Deliveries to a sink on the
/// same loop are written directly; those for other loops go over in one batch per loop per dispatch.
package final class QueueHost: BusSubscriber, @unchecked Sendable {
    package let name: String
    /// The name in the store (`StoredResourceName`: qualified by the virtual host unless it is `/`).
    let storedName: String
    /// The virtual host the queue is in.
    package var virtualHost: String { broker.virtualHost }
    package let eventLoop: any EventLoop
    package let metricsSlot: ProtocolMetricsSlot
    package var deliveryMark: UInt64 = 0
    package let durable: Bool
    /// The connection that owns an exclusive queue (deleted when it closes).
    package let exclusiveOwner: String?
    /// Deleted when its last consumer goes (after it had one).
    package let autoDelete: Bool
    package let arguments: QueueArguments
    /// The declare's arguments as the protocol received them, for the equivalence check of a redeclare.
    package let declaredArguments: [String: HeaderValue]
    /// Gone: deleted or expired. Late hops find it so and do nothing.
    package private(set) var isDeleted = false

    // Internal, not private: QueueHost+Sharing.swift works on them too.
    var queue: MessageQueue<BrokeredMessage>
    var sinks: [QueueConsumerID: any QueueConsumerSink] = [:]
    private var hadConsumer = false
    unowned(unsafe) let broker: QueueBroker
    let clock: @Sendable () -> UInt64
    /// Where a durable queue keeps its persistent messages (nil: a transient queue, or no store).
    let store: (any Store)?
    /// Several instances share the store (`QueueHost+Sharing.swift`): who owns a durable queue, nil when
    /// this instance is the store's only user or the queue is not durable.
    package let sharing: (any StoreSessionOwnership)?
    /// Whether this instance serves the queue now (always, without `sharing`).
    var ownership = QueueOwnership.owned
    /// `acquire` calls waiting for a claim in flight.
    var waitingForOwnership: [@Sendable (BrokerRefusal?) -> Void] = []
    /// Ids of messages other instances stored (`QueueBroker.forwardedIDBase` and up) taken here, until
    /// their deletion is durable and a later read of the store cannot return them any more.
    var adoptedIDs: Set<UInt64> = []
    /// Adopted ids whose deletion committed after `pullsStarted` was the given number.
    var retiringIDs: [(ids: [UInt64], after: Int)] = []
    var pullsStarted = 0
    var pulling = false
    var pullAgain = false
    /// Forwarded bus messages wait in `busWrites`: the batch's notify goes with them.
    var busForwarded = false
    /// Persistent messages from the bus (`amq.topic` bindings) waiting for the batch's store write.
    var busWrites: [StoreWrite] = []
    /// Ids of persistent messages that left since the last write to the store (one delete per operation).
    private var departed: [UInt64] = []
    /// Ids of stored messages delivered for the first time since the last write (instances share the
    /// store): marked delivered there, so a next owner sets `redelivered` on them.
    var deliveredMarks: [UInt64] = []
    /// Consumers that take messages without acks: a persistent message leaves on delivery.
    var automaticConsumers: Set<QueueConsumerID> = []
    var timer: Scheduled<Void>?
    var timerDeadline = UInt64.max
    /// The last bus message taken: a message that matches two `amq.topic` bindings arrives once per
    /// binding and is queued once (AMQP routes a message to a queue at most once).
    private weak var lastBusMessage: BusMessage?
    /// `amq.topic` bindings served by the bus: binding key → its subscription, and the subscriptions whose
    /// filter only approximates their key (`a.#.b` subscribes `a/#`): their messages are checked per key.
    private var busBindings: [String: BusSubscription] = [:]
    private var approximateKeys: [ObjectIdentifier: String] = [:]
    // Scratch reused by every dispatch (no arrays allocated per dispatch).
    private var deliveries: [QueueDelivery<BrokeredMessage>] = []
    private var deadLetters: [DeadLetter<BrokeredMessage>] = []

    init(
        name: String, eventLoop: any EventLoop, durable: Bool, exclusiveOwner: String?, autoDelete: Bool,
        arguments: QueueArguments, declaredArguments: [String: HeaderValue], broker: QueueBroker,
        metricsSlot: ProtocolMetricsSlot, clock: @escaping @Sendable () -> UInt64
    ) {
        self.name = name
        self.eventLoop = eventLoop
        self.durable = durable
        self.exclusiveOwner = exclusiveOwner
        self.autoDelete = autoDelete
        self.arguments = arguments
        self.declaredArguments = declaredArguments
        self.broker = broker
        self.metricsSlot = metricsSlot
        self.clock = clock
        self.queue = MessageQueue(name: name, vhost: broker.virtualHost, arguments: arguments, now: clock())
        self.storedName = broker.storedName(name)
        self.store = durable ? broker.bus.store : nil
        self.sharing = durable && exclusiveOwner == nil ? broker.bus.store?.sessionOwnership : nil
        if sharing != nil { ownership = .remote }
    }

    /// Runs `work` on the queue's loop: now when already there, else after a hop.
    package func perform(_ work: @escaping @Sendable (QueueHost) -> Void) {
        if eventLoop.inEventLoop {
            work(self)
        } else {
            eventLoop.execute { work(self) }
        }
    }

    /// Runs `work` on the queue's loop and `reply` with its result on `loop` (directly when both are the
    /// same loop, so a same-loop caller gets its answer before anything the work set off).
    package func perform<Result: Sendable>(
        replyingOn loop: any EventLoop, _ work: @escaping @Sendable (QueueHost) -> Result,
        reply: @escaping @Sendable (Result) -> Void
    ) {
        if eventLoop.inEventLoop {
            let result = work(self)
            if loop.inEventLoop { reply(result) } else { loop.execute { reply(result) } }
            return
        }
        eventLoop.execute {
            let result = work(self)
            loop.execute { reply(result) }
        }
    }

    // MARK: - Counts (on the loop)

    /// Ready messages (`queue.declare-ok` message-count).
    package var readyCount: Int { queue.readyCount }
    /// The consumers with their owners and unacknowledged counts (on the loop; for the admin API).
    package var consumerDetails: [(consumer: QueueConsumer, unacked: Int, owner: QueueConsumerOwner?)] {
        queue.consumerList.map { ($0.consumer, $0.unacked, sinks[$0.consumer.id]?.owner) }
    }
    package var unackedCount: Int { queue.unackedCount }
    package var consumerCount: Int { queue.consumerCount }

    // MARK: - Publishing

    /// Queues `publications` (on the loop) and hands what it can to consumers. Returns, per publication,
    /// whether the queue took it (false: refused by a reject-publish overflow — publisher confirms nack).
    /// `completion` gets the same answer once every persistent publication a durable queue took is in the
    /// store (at once when there is none; all false when the store failed), on this loop.
    @discardableResult
    package func enqueue(_ publications: [QueuePublication], completion: (@Sendable ([Bool]) -> Void)? = nil)
        -> [Bool]
    {
        guard !isDeleted else {
            let answer = Array(repeating: true, count: publications.count)
            completion?(answer)
            return answer
        }
        if ownership != .owned { return forward(publications, completion: completion) }
        let now = clock()
        var accepted: [Bool] = []
        accepted.reserveCapacity(publications.count)
        var writes: [StoreWrite] = []
        for publication in publications {
            let id = enqueue(publication, now: now)
            accepted.append(id != nil)
            if let id, keeps(publication) {
                writes.append(.saveQueueMessage(stored(publication, id: id, now: now)))
            }
        }
        dispatch(now: now)
        guard let store, !writes.isEmpty else {
            completion?(accepted)
            return accepted
        }
        let loop = eventLoop
        let taken = accepted
        store.submit(writes) { error in
            let answer = error == nil ? taken : Array(repeating: false, count: taken.count)
            if let completion { loop.execute { completion(answer) } }
        }
        return accepted
    }

    /// The queue's id for the publication, or nil when it was refused.
    private func enqueue(_ publication: QueuePublication, now: UInt64) -> UInt64? {
        let result = queue.enqueue(
            publication.message, bytes: publication.bytes, priority: publication.priority,
            timeToLive: publication.timeToLive, persistent: keeps(publication),
            exchange: publication.exchange, routingKeys: publication.routingKeys, now: now)
        if !result.deadLetters.isEmpty { deadLetters.append(contentsOf: result.deadLetters) }
        if case .accepted(let id) = result.outcome { return id }
        return nil
    }

    /// Whether the store keeps the publication: a persistent one in a durable queue, and with `sharing`
    /// every one (another instance may take the queue over, and it reads the store).
    func keeps(_ publication: QueuePublication) -> Bool {
        store != nil && (publication.persistent || sharing != nil)
    }

    func stored(_ publication: QueuePublication, id: UInt64, now: UInt64) -> StoredQueueMessage {
        StoredQueueMessage(
            queue: storedName, id: id, priority: publication.priority,
            deadline: queue.deadline(timeToLive: publication.timeToLive, now: now), exchange: publication.exchange,
            routingKeys: publication.routingKeys, deaths: StoredQueueCodec.encode(deaths: publication.message.deaths),
            redelivered: false, message: publication.message.message)
    }

    /// Takes back the persistent messages kept across a restart (on the loop, before any connection).
    package func restore(_ messages: [StoredQueueMessage]) {
        for stored in messages {
            queue.restore(
                BrokeredMessage(
                    message: stored.message, deaths: StoredQueueCodec.decodeDeaths(stored.deaths) ?? []),
                id: stored.id, bytes: stored.message.payload.readableBytes, priority: stored.priority,
                deadline: stored.deadline, exchange: stored.exchange, routingKeys: stored.routingKeys,
                redelivered: stored.redelivered)
        }
        armTimer()
    }

    /// Notes that persistent messages left the queue; `writeDepartures` deletes them from the store.
    func departed(_ messages: some Sequence<QueueMessage<BrokeredMessage>>) {
        guard store != nil else { return }
        for message in messages where message.persistent && message.id != 0 { departed.append(message.id) }
    }

    private func writeDepartures() {
        guard let store, !departed.isEmpty else { return }
        if sharing != nil {
            writeSharedDepartures(departed)
        } else {
            store.submit([.deleteQueueMessages(queue: storedName, ids: departed)])
        }
        departed.removeAll(keepingCapacity: true)
    }

    // MARK: - Consumers

    /// Registers a consumer (on the loop). It receives at once, or with `dispatch` false at the next
    /// dispatch (`resume()`), so a protocol can confirm the consumer before its first delivery.
    package func addConsumer(_ consumer: QueueConsumer, sink: any QueueConsumerSink, dispatch: Bool = true)
        throws(BrokerRefusal)
    {
        guard !isDeleted else { throw BrokerRefusal(.notFound, "no queue '\(name)' in vhost '\(broker.virtualHost)'") }
        // A protocol that can wait (AMQP) calls `acquire` first; one that cannot is refused.
        guard ownership == .owned else { throw servedElsewhere }
        try queue.addConsumer(consumer, now: clock())
        sinks[consumer.id] = sink
        if consumer.ackMode == .automatic { automaticConsumers.insert(consumer.id) }
        hadConsumer = true
        if dispatch { self.dispatch(now: clock()) }
    }

    /// Removes a consumer (on the loop): with `requeue` (its channel closed) its unacked messages go back,
    /// redelivered; without (`basic.cancel`) they stay for the channel to ack. An auto-delete queue goes
    /// with its last consumer.
    package func removeConsumer(_ id: QueueConsumerID, requeue: Bool) {
        guard !isDeleted, sinks.removeValue(forKey: id) != nil else { return }
        automaticConsumers.remove(id)
        let now = clock()
        if let removal = queue.removeConsumer(id, requeueUnacked: requeue, now: now) {
            deadLetters.append(contentsOf: removal.deadLetters)
        }
        if autoDelete && hadConsumer && queue.consumerCount == 0 {
            delete()
            return
        }
        dispatch(now: now)
    }

    /// A sink takes messages again (its buffer drained): hand it what waits.
    package func resume() {
        perform { host in
            guard !host.isDeleted else { return }
            host.dispatch(now: host.clock())
        }
    }

    // MARK: - Acknowledgements

    /// `basic.ack` of `ids` (on the loop).
    package func ack(_ ids: [UInt64]) {
        guard !isDeleted else { return }
        departed(queue.ack(ids))
        dispatch(now: clock())
    }

    /// `basic.nack` / `basic.reject` of `ids`: back to the queue, or dead-lettered (on the loop).
    package func reject(_ ids: [UInt64], requeue: Bool) {
        guard !isDeleted else { return }
        deadLetters.append(contentsOf: queue.reject(ids, requeue: requeue))
        dispatch(now: clock())
    }

    /// `basic.get` (on the loop); nil when the queue was deleted meanwhile.
    package func get(autoAck: Bool) -> MessageQueue<BrokeredMessage>.GetResult? {
        guard !isDeleted else { return nil }
        // Not served here (AMQP acquires it first): nothing to get.
        guard ownership == .owned else { return nil }
        let result = queue.get(now: clock(), autoAck: autoAck)
        if autoAck, let message = result.message { departed(CollectionOfOne(message)) }
        if !autoAck, let message = result.message {
            markDelivered(message)
            writeDeliveredMarks()
        }
        if !result.deadLetters.isEmpty {
            deadLetters.append(contentsOf: result.deadLetters)
            routeDeadLetters()
        }
        armTimer()
        writeDepartures()
        return result
    }

    /// `queue.purge`: drops the ready messages (on the loop); returns how many.
    package func purge() -> Int {
        guard !isDeleted else { return 0 }
        let purged = queue.purge()
        departed(purged)
        writeDepartures()
        armTimer()
        return purged.count
    }

    /// A redeclare restarts the `x-expires` clock.
    package func touch() {
        queue.touch(now: clock())
        armTimer()
    }

    // MARK: - Deletion

    /// `queue.delete` (on the loop): refused when `ifUnused` and it has consumers, or `ifEmpty` and it
    /// holds messages (406). Returns the messages it held.
    package func delete(ifUnused: Bool, ifEmpty: Bool) throws(BrokerRefusal) -> Int {
        guard !isDeleted else { return 0 }
        if ifUnused && queue.consumerCount > 0 {
            throw BrokerRefusal(.preconditionFailed, "queue '\(name)' in vhost '\(broker.virtualHost)' in use")
        }
        if ifEmpty && queue.readyCount > 0 {
            throw BrokerRefusal(.preconditionFailed, "queue '\(name)' in vhost '\(broker.virtualHost)' is not empty")
        }
        let count = queue.readyCount
        delete()
        return count
    }

    /// Ends the queue (on the loop): consumers are told, bus bindings end, the broker forgets it.
    package func delete() {
        guard !isDeleted else { return }
        if let sharing, ownership == .owned, let store {
            // Let go once the deletion is durable.
            let claim = ownershipName
            store.submit([]) { _ in sharing.release(claim) }
        }
        end(stored: true)
    }

    /// Another instance sharing the store deleted the queue (on the loop): it goes here too, without
    /// writing anything. A queue served here was not (a deletion claims the queue first): it was declared
    /// again since, and stays.
    func deletedElsewhere() {
        guard !isDeleted, ownership != .owned else { return }
        end(stored: false)
    }

    private func end(stored: Bool) {
        isDeleted = true
        timer?.cancel()
        timer = nil
        failWaiting(BrokerRefusal(.notFound, "no queue '\(name)' in vhost '\(broker.virtualHost)'"))
        for subscription in busBindings.values { broker.bus.unsubscribe(subscription) }
        busBindings.removeAll()
        cancelConsumers()
        broker.forget(self, stored: stored)
    }

    /// Tells every consumer the queue went from under it (`basic.cancel` from the server).
    func cancelConsumers() {
        let cancelled = sinks
        sinks.removeAll()
        automaticConsumers.removeAll()
        for (id, sink) in cancelled {
            if sink.eventLoop.inEventLoop {
                sink.queueCancelled(id, host: self)
            } else {
                sink.eventLoop.execute { sink.queueCancelled(id, host: self) }
            }
        }
    }

    // MARK: - amq.topic bindings through the bus

    /// Subscribes the queue to the bus for an `amq.topic` binding key (on the loop). `viewer` is who bound
    /// it, to record collections' view rules (nil: an admin): the queue takes only the change events its
    /// binder may view.
    package func addBusBinding(_ key: String, viewer: RecordViewer?) {
        guard !isDeleted, busBindings[key] == nil, let mapped = broker.busFilterText(forBindingKey: key),
            let filter = try? TopicFilter(mapped.filter)
        else { return }
        let subscription = broker.bus.subscribe(
            filter, subscriber: self, subscriberID: "queue:" + name, options: SubscriptionOptions(viewer: viewer)
        ).subscription
        busBindings[key] = subscription
        if !mapped.exact { approximateKeys[ObjectIdentifier(subscription)] = key }
    }

    /// Ends the bus subscription of an `amq.topic` binding key (on the loop).
    package func removeBusBinding(_ key: String) {
        guard let subscription = busBindings.removeValue(forKey: key) else { return }
        approximateKeys[ObjectIdentifier(subscription)] = nil
        broker.bus.unsubscribe(subscription)
    }

    package func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard !isDeleted, message.isPublication, message !== lastBusMessage else { return .skipped }
        // Several instances sharing the store, joined by an engine: the instance the message was published
        // on put it in this queue (stored for whoever serves it); hearing it through the engine is no
        // second publish.
        if message.isStoredElsewhere(storeShared: sharing != nil) { return .skipped }
        // AMQP carries routing keys as short strings (§4.2.5.3: at most 255 bytes); a longer topic has no
        // AMQP spelling, and no binding key could have named it.
        guard let routingKey = broker.routingKey(forTopic: message.topic.name),
            routingKey.utf8.count <= Self.maxRoutingKeyBytes
        else { return .skipped }
        if let key = approximateKeys[ObjectIdentifier(subscription)],
            !Self.topicKey(key, matches: routingKey)
        {
            return .skipped
        }
        lastBusMessage = message
        let now = clock()
        if ownership != .owned {
            forward(busMessage: message, routingKey: routingKey, now: now)
            return .delivered(bytes: message.payload.readableBytes)
        }
        let timeToLive = message.expiresAt == .max ? nil : (message.expiresAt > now ? message.expiresAt - now : 0)
        let publication = QueuePublication(
            message: BrokeredMessage(message: message), bytes: message.payload.readableBytes,
            priority: message.headers.priority ?? 0, timeToLive: timeToLive,
            persistent: (message.headers.qos ?? 0) > 0, exchange: "amq.topic", routingKeys: [routingKey])
        if let id = enqueue(publication, now: now), keeps(publication) {
            // A persistent message (MQTT QoS ≥ 1, AMQP delivery-mode 2, STOMP persistent:true) in a durable
            // queue is stored like one published to the queue directly; written once per delivery batch.
            busWrites.append(.saveQueueMessage(stored(publication, id: id, now: now)))
        }
        return .delivered(bytes: message.payload.readableBytes)
    }

    package func flushDeliveries() {
        guard !isDeleted else { return }
        if let store, !busWrites.isEmpty {
            if busForwarded {
                busWrites.append(.notify(channel: QueueBroker.forwardedChannel, payload: storedName))
                busForwarded = false
            }
            store.submit(busWrites) { _ in }
            busWrites.removeAll(keepingCapacity: true)
        }
        dispatch(now: clock())
    }

    // MARK: - Dispatch

    /// Hands ready messages to consumers with room, writes them (batched per sink loop), and routes
    /// whatever died on the way.
    func dispatch(now: UInt64) {
        if !sinks.isEmpty && queue.readyCount > 0 {
            let sinks = self.sinks
            queue.dispatch(now: now, into: &deliveries, deadLetters: &deadLetters) { id in
                sinks[id]?.acceptsDeliveries ?? false
            }
            if !deliveries.isEmpty { send() }
        }
        if !deadLetters.isEmpty { routeDeadLetters() }
        writeDepartures()
        armTimer()
    }

    private func send() {
        // A queue has few consumers: plain arrays searched by identity, not dictionaries, per dispatch.
        var local: [any QueueConsumerSink] = []
        var remote: [(sink: any QueueConsumerSink, deliveries: [QueueDelivery<BrokeredMessage>])] = []
        for delivery in deliveries {
            guard let sink = sinks[delivery.consumer] else { continue }
            if !automaticConsumers.isEmpty, automaticConsumers.contains(delivery.consumer) {
                departed(CollectionOfOne(delivery.message))
            } else {
                markDelivered(delivery.message)
            }
            if sink.eventLoop === eventLoop {
                sink.deliver(delivery, from: self)
                if !local.contains(where: { $0 === sink }) { local.append(sink) }
            } else if let index = remote.firstIndex(where: { $0.sink === sink }) {
                remote[index].deliveries.append(delivery)
            } else {
                remote.append((sink, [delivery]))
            }
        }
        deliveries.removeAll(keepingCapacity: true)
        writeDeliveredMarks()
        for sink in local { sink.flushQueueDeliveries() }
        for (sink, batch) in remote {
            sink.eventLoop.execute { [self] in
                for delivery in batch { sink.deliver(delivery, from: self) }
                sink.flushQueueDeliveries()
            }
        }
    }

    private func routeDeadLetters() {
        let dead = deadLetters
        deadLetters.removeAll(keepingCapacity: true)
        departed(dead.lazy.map(\.message))
        broker.deadLetter(dead, from: self, now: clock())
    }

    // MARK: - Timers (message TTL at the head, x-expires)

    func armTimer() {
        // A queue served by another instance is empty here, and must not expire here.
        guard ownership == .owned else { return }
        let next = min(queue.nextExpiry ?? .max, queue.idleDeadline ?? .max)
        guard next != .max, next < timerDeadline else { return }
        timer?.cancel()
        timerDeadline = next
        let now = clock()
        let delay = next > now ? Int64(min(next - now, UInt64(Int64.max))) : 0
        timer = eventLoop.scheduleTask(in: .nanoseconds(delay)) { [self] in timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerDeadline = .max
        guard !isDeleted, ownership == .owned else { return }
        let now = clock()
        if queue.isExpired(now: now) {
            delete()
            return
        }
        deadLetters.append(contentsOf: queue.expire(now: now))
        dispatch(now: now)
    }

    /// The longest routing key a queue takes from the bus (an AMQP short string).
    static let maxRoutingKeyBytes = 255

    /// AMQP topic matching of one binding key (`*` one word, `#` zero or more), for the keys the bus
    /// filter only approximates.
    static func topicKey(_ pattern: String, matches routingKey: String) -> Bool {
        let patternWords = pattern.split(separator: ".", omittingEmptySubsequences: false)
        let keyWords = routingKey.split(separator: ".", omittingEmptySubsequences: false)
        func match(_ p: Int, _ k: Int) -> Bool {
            if p == patternWords.count { return k == keyWords.count }
            if patternWords[p] == "#" {
                // Collapse consecutive `#`s, then try every split.
                var next = p
                while next < patternWords.count && patternWords[next] == "#" { next += 1 }
                if next == patternWords.count { return true }
                return (k...keyWords.count).contains { match(next, $0) }
            }
            guard k < keyWords.count, patternWords[p] == "*" || patternWords[p] == keyWords[k] else { return false }
            return match(p + 1, k + 1)
        }
        return match(0, 0)
    }
}
