import DequeModule

extension MessageQueue {
    /// Settles an unacked message (`basic.ack`, STOMP ACK): it leaves the queue. Returns it (the caller
    /// deletes a persistent one from storage), or nil when no message with that id is unacked. AMQP's
    /// `multiple` and STOMP's cumulative acks name delivery tags or ack ids the channel or subscription
    /// issued (across queues and `basic.get`s), so the frontend expands them to ids.
    @discardableResult
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func ack(_ id: UInt64) -> QueueMessage<Payload>? {
        guard let entry = unacked.removeValue(forKey: id) else { return nil }
        if entry.slot >= 0 { consumers[entry.slot].unacked -= 1 }
        unackedBytes -= entry.message.bytes
        return entry.message
    }

    /// Settles several unacked messages; returns those that were unacked, in the order given.
    @discardableResult
    package mutating func ack(_ ids: some Sequence<UInt64>) -> [QueueMessage<Payload>] {
        ids.compactMap { ack($0) }
    }

    /// `basic.reject` / `basic.nack` / STOMP NACK on unacked messages: with `requeue` they go back to the
    /// ready ones at their original positions, redelivered (drop-head may then push the oldest out);
    /// without, they are dead-lettered with reason `rejected` (dropped when the queue has no dead-letter
    /// exchange — still returned, for storage). Unknown ids are ignored.
    package mutating func reject(_ ids: some Sequence<UInt64>, requeue: Bool) -> [DeadLetter<Payload>] {
        var messages: [QueueMessage<Payload>] = []
        for id in ids {
            guard let entry = unacked.removeValue(forKey: id) else { continue }
            if entry.slot >= 0 { consumers[entry.slot].unacked -= 1 }
            unackedBytes -= entry.message.bytes
            messages.append(entry.message)
        }
        var deadLetters: [DeadLetter<Payload>] = []
        if requeue {
            self.requeue(messages, deadLetters: &deadLetters)
        } else {
            deadLetters = messages.map { deadLetter($0, .rejected) }
        }
        return deadLetters
    }

    /// `reject` for one message.
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func reject(_ id: UInt64, requeue: Bool) -> [DeadLetter<Payload>] {
        reject(CollectionOfOne(id), requeue: requeue)
    }

    /// `queue.purge`: removes every ready message (unacked ones stay) and returns them in delivery order —
    /// their count is `purge-ok`'s `message-count`; the caller deletes persistent ones from storage. Purged
    /// messages are not dead-lettered, as in RabbitMQ.
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func purge() -> [QueueMessage<Payload>] {
        let removed = readyMessages
        for level in levels.indices { levels[level].removeAll() }
        readyCount = 0
        readyBytes = 0
        return removed
    }
}
