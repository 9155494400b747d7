package import BusCore
import NIOCore
package import Storage

/// Whether this instance serves a durable queue, when several instances share one PostgreSQL database
/// (`shared_instances=true`, docs/storage.md "AMQP durable queues").
package enum QueueOwnership: Sendable, Equatable {
    /// Served here: consumers, `basic.get`, acks and the queue's messages in memory.
    case owned
    /// Another instance may serve it; nothing of it is in memory here and publishes go to the store.
    case remote
    /// A claim is in flight (`acquire`).
    case claiming
}

/// A durable queue among several instances on one database. One instance at a time **owns** it: it
/// holds the queue's advisory lock (`StoreSessionOwnership.claim` of `ownershipName`), has its messages
/// in memory and delivers them. Every other instance keeps the queue **remote**: a publish routed to it
/// there is stored under an id of its own (`QueueBroker.forwardedID`) with a notification the owner
/// listens to, which reads the new rows and takes them (`pullForwarded`); a consumer or `basic.get` there
/// claims the queue first (`acquire`). The owner lets go when asked while it has no consumers and nothing
/// unacknowledged; the database lets go when the owner dies. A new owner reads the queue's messages fresh.
extension QueueHost {
    /// How long a consumer or `basic.get` waits for a queue another instance holds before it is refused:
    /// long enough for an idle owner to finish its writes and let go.
    static let claimTimeout = TimeAmount.seconds(2)

    /// The name the queue's claim goes by.
    var ownershipName: String { StoreOwnedResource.name(kind: "amqp-queue", storedName) }

    /// The refusal of a consumer, `basic.get`, `queue.purge` or `queue.delete` while another instance serves the queue: AMQP 405
    /// RESOURCE_LOCKED (§1.2 of the 0-9-1 constants: "the client attempted to work with a server entity
    /// to which it has no access because another client is working with it"), as RabbitMQ answers for a
    /// queue it cannot give this connection.
    var servedElsewhere: BrokerRefusal {
        BrokerRefusal(
            .resourceLocked,
            "queue '\(name)' in vhost '\(virtualHost)' is served by another Switchboard instance sharing the "
                + "database; consume, purge or delete it there, or here once it has no consumers there")
    }

    /// Makes sure this instance serves the queue, then calls `then` on the loop with nil, or with the
    /// refusal when another instance keeps it past `claimTimeout` or the store cannot be read (on the loop).
    package func acquire(_ then: @escaping @Sendable (BrokerRefusal?) -> Void) {
        guard !isDeleted else { return then(BrokerRefusal(.notFound, "no queue '\(name)' in vhost '\(virtualHost)'")) }
        switch ownership {
        case .owned:
            then(nil)
        case .claiming:
            waitingForOwnership.append(then)
        case .remote:
            guard let sharing else { return then(nil) }
            ownership = .claiming
            waitingForOwnership.append(then)
            let storedName = storedName
            sharing.claim(ownershipName, timeout: Self.claimTimeout) { [self] held in
                guard held else { return perform { $0.claimed(nil) } }
                sharing.loadQueueMessages(storedName, from: 0) { [self] result in
                    perform { $0.claimed(result) }
                }
            }
        }
    }

    /// The claim's answer (on the loop): nil when it was not had, else the queue's stored messages.
    private func claimed(_ result: Result<[StoredQueueMessage], any Error>?) {
        guard let sharing else { return }
        guard !isDeleted else {
            if result != nil { sharing.release(ownershipName) }
            return
        }
        guard let result else {
            ownership = .remote
            return failWaiting(servedElsewhere)
        }
        guard case .success(let messages) = result else {
            sharing.release(ownershipName)
            ownership = .remote
            return failWaiting(
                BrokerRefusal(
                    .resourceLocked, "queue '\(name)' in vhost '\(virtualHost)' could not be read from the store"))
        }
        queue = MessageQueue(name: name, vhost: virtualHost, arguments: arguments, now: clock())
        adoptedIDs.removeAll()
        retiringIDs.removeAll()
        for stored in messages {
            let message = BrokeredMessage(
                message: stored.message, deaths: StoredQueueCodec.decodeDeaths(stored.deaths) ?? [])
            let bytes = stored.message.payload.readableBytes
            if stored.id >= QueueBroker.forwardedIDBase {
                queue.adopt(
                    message, id: stored.id, bytes: bytes, priority: stored.priority, deadline: stored.deadline,
                    exchange: stored.exchange, routingKeys: stored.routingKeys, redelivered: stored.redelivered)
                adoptedIDs.insert(stored.id)
            } else {
                queue.restore(
                    message, id: stored.id, bytes: bytes, priority: stored.priority, deadline: stored.deadline,
                    exchange: stored.exchange, routingKeys: stored.routingKeys, redelivered: stored.redelivered)
            }
        }
        // Ids from here on start above any an earlier owner can still have in flight (the time in
        // microseconds, shifted as forwarded ids are, stays below `forwardedIDBase`).
        queue.continueIDs(after: (clock() / 1_000) << 8)
        ownership = .owned
        let waiting = waitingForOwnership
        waitingForOwnership.removeAll()
        for then in waiting { then(nil) }
        dispatch(now: clock())
        // Rows forwarded while the claim was in flight were announced before this instance listened for
        // them as the owner.
        pullForwarded()
    }

    func failWaiting(_ refusal: BrokerRefusal) {
        let waiting = waitingForOwnership
        waitingForOwnership.removeAll()
        for then in waiting { then(refusal) }
    }

    /// Another instance asks for the queue (`lost` false), or the database let go of it (`lost` true: the
    /// ownership connection was lost). Asked, the owner lets go only while nobody consumes here and
    /// nothing is unacknowledged, once its writes are durable; lost, its consumers are cancelled (their
    /// unacknowledged messages stay in the store for the next owner).
    func releaseRequested(lost: Bool) {
        guard let sharing, !isDeleted, ownership == .owned else { return }
        if !lost {
            guard queue.consumerCount == 0, queue.unackedCount == 0 else { return }
        }
        ownership = .remote
        timer?.cancel()
        timer = nil
        timerDeadline = .max
        cancelConsumers()
        queue = MessageQueue(name: name, vhost: virtualHost, arguments: arguments, now: clock())
        adoptedIDs.removeAll()
        retiringIDs.removeAll()
        guard !lost, let store else { return }
        let claim = ownershipName
        store.submit([]) { _ in sharing.release(claim) }
    }

    // MARK: - Delivered marks

    /// Notes a first delivery of a stored message while instances share the store (nothing otherwise: one
    /// instance restores its queues with the flags it stored).
    func markDelivered(_ message: QueueMessage<BrokeredMessage>) {
        guard sharing != nil, !message.redelivered, message.id != 0 else { return }
        deliveredMarks.append(message.id)
    }

    /// Writes the delivered marks noted since the last write, one statement per dispatch. Not waited for:
    /// the delivery goes out meanwhile, so a message delivered in the last commit interval before the
    /// owner dies may reach the next owner's consumer without `redelivered`.
    func writeDeliveredMarks() {
        guard let store, !deliveredMarks.isEmpty else { return }
        store.submit([.markQueueMessagesDelivered(queue: storedName, ids: deliveredMarks)])
        deliveredMarks.removeAll(keepingCapacity: true)
    }

    // MARK: - Publishing to a queue another instance serves

    /// Stores `publications` for the owner (whoever it is now or later) and tells it; `completion` gets
    /// whether they are stored. Each goes under an id of this instance's (`QueueBroker.forwardedID`), so
    /// the owner takes it without writing it again.
    func forward(_ publications: [QueuePublication], completion: (@Sendable ([Bool]) -> Void)?) -> [Bool] {
        let accepted = Array(repeating: true, count: publications.count)
        guard let store else {
            completion?(accepted)
            return accepted
        }
        let now = clock()
        var writes = publications.map { StoreWrite.saveQueueMessage(stored($0, id: broker.forwardedID(), now: now)) }
        writes.append(.notify(channel: QueueBroker.forwardedChannel, payload: storedName))
        let loop = eventLoop
        store.submit(writes) { error in
            let answer = error == nil ? accepted : Array(repeating: false, count: accepted.count)
            if let completion { loop.execute { completion(answer) } }
        }
        return accepted
    }

    /// A bus message for a queue another instance serves: stored with the delivery batch's other writes.
    func forward(busMessage message: BusMessage, routingKey: String, now: UInt64) {
        guard store != nil else { return }
        let timeToLive = message.expiresAt == .max ? nil : (message.expiresAt > now ? message.expiresAt - now : 0)
        let publication = QueuePublication(
            message: BrokeredMessage(message: message), bytes: message.payload.readableBytes,
            priority: message.headers.priority ?? 0, timeToLive: timeToLive, persistent: true,
            exchange: "amq.topic", routingKeys: [routingKey])
        busWrites.append(.saveQueueMessage(stored(publication, id: broker.forwardedID(), now: now)))
        busForwarded = true
    }

    // MARK: - Taking what other instances stored

    /// Reads the rows other instances stored in the queue and takes those not taken yet (on the loop; one
    /// read at a time, another after it when asked meanwhile).
    package func pullForwarded() {
        guard let sharing, !isDeleted, ownership == .owned else { return }
        guard !pulling else {
            pullAgain = true
            return
        }
        pulling = true
        pullsStarted += 1
        let number = pullsStarted
        sharing.loadQueueMessages(storedName, from: QueueBroker.forwardedIDBase) { [self] result in
            perform { $0.pulled(result, number: number) }
        }
    }

    private func pulled(_ result: Result<[StoredQueueMessage], any Error>, number: Int) {
        pulling = false
        guard !isDeleted, ownership == .owned else { return }
        // Ids whose deletion committed before this read began cannot be in it: forget them.
        if retiringIDs.contains(where: { $0.after < number }) {
            for retired in retiringIDs where retired.after < number {
                for id in retired.ids { adoptedIDs.remove(id) }
            }
            retiringIDs.removeAll { $0.after < number }
        }
        if case .success(let messages) = result {
            for stored in messages where !adoptedIDs.contains(stored.id) {
                adoptedIDs.insert(stored.id)
                queue.adopt(
                    BrokeredMessage(
                        message: stored.message, deaths: StoredQueueCodec.decodeDeaths(stored.deaths) ?? []),
                    id: stored.id, bytes: stored.message.payload.readableBytes, priority: stored.priority,
                    deadline: stored.deadline, exchange: stored.exchange, routingKeys: stored.routingKeys,
                    redelivered: stored.redelivered)
            }
            dispatch(now: clock())
        }
        if pullAgain {
            pullAgain = false
            pullForwarded()
        }
    }

    /// Deletes departed messages; adopted ids among them are forgotten once a read that began after the
    /// deletion committed has come back.
    func writeSharedDepartures(_ ids: [UInt64]) {
        guard let store else { return }
        let adopted = ids.filter { $0 >= QueueBroker.forwardedIDBase }
        guard !adopted.isEmpty else {
            return store.submit([.deleteQueueMessages(queue: storedName, ids: ids)])
        }
        store.submit([.deleteQueueMessages(queue: storedName, ids: ids)]) { [self] error in
            guard error == nil else { return }
            perform { host in host.retiringIDs.append((adopted, host.pullsStarted)) }
        }
    }
}
