import DequeModule

extension MessageQueue {
    /// Registers a consumer at `now`. Refused when the queue has an exclusive consumer, when an exclusive
    /// consumer asks while others exist or the queue has a single active consumer (RabbitMQ: "in exclusive
    /// use", 403), or when the id is taken. Returns whether it receives messages now: always, except behind
    /// the active consumer of a single-active-consumer queue.
    @discardableResult
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func addConsumer(_ consumer: QueueConsumer, now: UInt64) throws(BrokerRefusal) -> Bool {
        if consumers.contains(where: { $0.consumer.id == consumer.id }) {
            throw BrokerRefusal(.notAllowed, "attempt to reuse \(consumer.id) on \(resource)")
        }
        let exclusiveHeld = consumers.contains { $0.consumer.exclusive }
        if exclusiveHeld || (consumer.exclusive && (!consumers.isEmpty || arguments.singleActiveConsumer)) {
            throw BrokerRefusal(.accessRefused, "\(resource) in exclusive use")
        }
        consumers.append(ConsumerState(consumer: consumer))
        touch(now: now)
        rebuildDispatchOrder()
        return !arguments.singleActiveConsumer || consumers.count == 1
    }

    /// Removes a consumer at `now` (`basic.cancel`, channel or connection closed). With `requeueUnacked`
    /// (a closed channel) its unacked messages go back to the queue at their positions, redelivered; without
    /// it (`basic.cancel`) they stay unacked, for the channel to ack or reject by id later. nil when no such
    /// consumer is registered.
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func removeConsumer(_ id: QueueConsumerID, requeueUnacked: Bool = true, now: UInt64)
        -> ConsumerRemoval?
    {
        guard let slot = consumers.firstIndex(where: { $0.consumer.id == id }) else { return nil }
        let wasActive = arguments.singleActiveConsumer && slot == 0
        consumers.remove(at: slot)
        var returning: [QueueMessage<Payload>] = []
        // Slots after the removed one shift down; its own messages are requeued or detached (slot -1).
        for (messageID, var entry) in unacked where entry.slot >= slot {
            if entry.slot > slot {
                entry.slot -= 1
                unacked[messageID] = entry
            } else if requeueUnacked {
                unacked[messageID] = nil
                unackedBytes -= entry.message.bytes
                returning.append(entry.message)
            } else {
                entry.slot = -1
                unacked[messageID] = entry
            }
        }
        var deadLetters: [DeadLetter<Payload>] = []
        requeue(returning, deadLetters: &deadLetters)
        if consumers.isEmpty { lastUsed = Swift.max(lastUsed, now) }
        rebuildDispatchOrder()
        let activated = wasActive ? consumers.first?.consumer.id : nil
        return ConsumerRemoval(requeued: returning.count, activated: activated, deadLetters: deadLetters)
    }

    /// Unacked messages held by `id` (its prefetch window's use).
    package func unackedCount(of id: QueueConsumerID) -> Int? {
        consumers.first { $0.consumer.id == id }?.unacked
    }

    /// `queue 'q' in vhost '/'`, for refusal texts.
    var resource: String { BrokerRefusal.resource("queue", name, vhost: vhost) }

    /// Sorts consumer slots by priority (highest first; registration order within one) into groups.
    mutating func rebuildDispatchOrder() {
        dispatchOrder = consumers.indices.sorted {
            consumers[$0].consumer.priority > consumers[$1].consumer.priority
                || (consumers[$0].consumer.priority == consumers[$1].consumer.priority && $0 < $1)
        }
        groups = []
        var start = 0
        while start < dispatchOrder.count {
            let priority = consumers[dispatchOrder[start]].consumer.priority
            var end = start + 1
            while end < dispatchOrder.count && consumers[dispatchOrder[end]].consumer.priority == priority { end += 1 }
            groups.append(PriorityGroup(start: start, end: end, cursor: 0))
            start = end
        }
    }

    /// Returns messages to the ready ones in place, redelivered, then applies drop-head.
    mutating func requeue(_ messages: [QueueMessage<Payload>], deadLetters: inout [DeadLetter<Payload>]) {
        guard !messages.isEmpty else { return }
        // Newest first: each older one then lands at the front, O(1) in the usual case.
        for var message in messages.sorted(by: { $0.id > $1.id }) {
            message.redelivered = true
            insertReady(message)
        }
        dropHeadsOverLimit(into: &deadLetters)
    }
}
