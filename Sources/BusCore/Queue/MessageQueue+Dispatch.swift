import DequeModule

extension MessageQueue {
    /// Hands ready messages to consumers with room at `now`, at most `limit` of them: higher-priority
    /// consumers first, equal priorities in turn, only the active one with single active consumer, and
    /// only within each consumer's prefetch window.
    ///
    /// `admit` is the channel's say, asked once per candidate delivery: return true to take the message
    /// for that consumer — and count it against whatever the channel limits (AMQP `basic.qos` global,
    /// a full outbound buffer, STOMP flow) — or false to pass the consumer over for this message. The
    /// queue never holds channel state; the default admits everything.
    ///
    /// Messages met at the head that have expired are dead-lettered on the way. A message whose deadline is
    /// `now` can still go to a consumer that takes it now; whatever is left at the head with a deadline at
    /// or before `now` expires afterwards — so a TTL-0 message is delivered only if a consumer takes it at
    /// once (RabbitMQ's rule), provided the caller dispatches at the time it enqueued.
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func dispatch(
        now: UInt64, limit: Int = .max, admit: (QueueConsumerID) -> Bool = { _ in true }
    ) -> DispatchResult {
        var result = DispatchResult()
        dispatch(now: now, limit: limit, into: &result.deliveries, deadLetters: &result.deadLetters, admit: admit)
        return result
    }

    /// `dispatch(now:limit:admit:)` appending to the caller's buffers, which it may keep and reuse (no array
    /// allocated per call).
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func dispatch(
        now: UInt64, limit: Int = .max, into deliveries: inout [QueueDelivery<Payload>],
        deadLetters: inout [DeadLetter<Payload>], admit: (QueueConsumerID) -> Bool = { _ in true }
    ) {
        var delivered = 0
        while delivered < limit, let level = headLevel {
            if levels[level][0].deadline < now {
                deadLetters.append(deadLetter(removeHead(level: level), .expired))
                continue
            }
            guard let slot = nextConsumer(admit: admit) else { break }
            var message = removeHead(level: level)
            message.deliveryCount &+= 1
            // Fields, not the whole `QueueConsumer` (its tag would be retained and released per message).
            let consumer = consumers[slot].consumer.id
            if consumers[slot].consumer.ackMode == .manual {
                consumers[slot].unacked += 1
                unacked[message.id] = Unacked(message: message, consumer: consumer, slot: slot)
                unackedBytes += message.bytes
            }
            deliveries.append(QueueDelivery(consumer: consumer, message: message))
            delivered += 1
        }
        expireHeads(now: now, into: &deadLetters)
    }

    /// `basic.get` at `now`: the next ready message, unacked (held by no consumer; the channel acks or
    /// rejects it by id) or, with `autoAck`, gone from the queue. Expired heads are dead-lettered first.
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func get(now: UInt64, autoAck: Bool) -> GetResult {
        touch(now: now)
        var deadLetters: [DeadLetter<Payload>] = []
        expireHeads(now: now, into: &deadLetters)
        guard let level = headLevel else { return GetResult(message: nil, remaining: 0, deadLetters: deadLetters) }
        var message = removeHead(level: level)
        message.deliveryCount &+= 1
        if !autoAck {
            unacked[message.id] = Unacked(message: message, consumer: nil, slot: -1)
            unackedBytes += message.bytes
        }
        return GetResult(message: message, remaining: readyCount, deadLetters: deadLetters)
    }

    /// The periodic sweep: dead-letters the expired messages at the head of the queue (of each priority
    /// level). As in RabbitMQ, an expired message behind a live one waits until it reaches the head.
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func expire(now: UInt64) -> [DeadLetter<Payload>] {
        var deadLetters: [DeadLetter<Payload>] = []
        expireHeads(now: now, into: &deadLetters)
        return deadLetters
    }

    /// The earliest deadline among the heads, for the caller's sweep timer; nil when none can expire.
    package var nextExpiry: UInt64? {
        let deadlines = levels.compactMap { $0.first?.deadline }.filter { $0 != .max }
        return deadlines.min()
    }

    // MARK: - Internals

    mutating func expireHeads(now: UInt64, into deadLetters: inout [DeadLetter<Payload>]) {
        guard readyCount > 0 else { return }
        for level in levels.indices {
            while !levels[level].isEmpty && levels[level][0].deadline <= now {
                deadLetters.append(deadLetter(removeHead(level: level), .expired))
            }
        }
    }

    /// The consumer slot that takes the next message, advancing its group's turn; nil when none can.
    mutating func nextConsumer(admit: (QueueConsumerID) -> Bool) -> Int? {
        if arguments.singleActiveConsumer {
            guard let first = consumers.first, first.hasRoom, admit(first.consumer.id) else { return nil }
            return 0
        }
        for group in groups.indices {
            let start = groups[group].start
            let count = groups[group].end - start
            var turn = groups[group].cursor
            for _ in 0..<count {
                let slot = dispatchOrder[start + turn]
                turn = turn + 1 == count ? 0 : turn + 1
                if consumers[slot].hasRoom && admit(consumers[slot].consumer.id) {
                    groups[group].cursor = turn
                    return slot
                }
            }
        }
        return nil
    }
}
