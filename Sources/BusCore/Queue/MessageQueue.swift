import DequeModule

/// One queue's state with RabbitMQ classic-queue semantics: ready messages in FIFO (or priority) order,
/// unacked messages held by consumers, prefetch windows, round-robin between consumers of equal priority,
/// single active consumer, per-queue and per-message TTL that expires messages at the head, length limits
/// with drop-head or reject-publish, and dead-lettering returned as values.
///
/// Pure and synchronous (STYLE.md habit 4): the caller passes the time (`now`, ns), owns the queue on one
/// event loop, and acts on every result — sends the deliveries, republishes or drops the dead letters,
/// deletes acked persistent messages from storage. `enqueue` never delivers: the caller runs `dispatch`
/// after a batch of events (enqueues, acks, new consumers), which is where deliveries come from.
///
/// Cost: enqueue, dispatch and ack are O(1) in the common case (no priorities, no TTL): ready messages sit
/// in a `Deque` per priority level, unacked ones in one dictionary keyed by id (one insert per manual-ack
/// delivery, one removal per ack); nothing else is allocated per message.
package struct MessageQueue<Payload> {
    /// What `enqueue` did.
    package struct EnqueueResult {
        /// Whether the queue took the message.
        package var outcome: EnqueueOutcome
        /// Messages that left because of this one: heads dropped by drop-head, or the message itself under
        /// reject-publish-dlx. Empty in the common case (and then no allocation).
        package var deadLetters: [DeadLetter<Payload>]
    }

    /// The queue's answer to a publish.
    package enum EnqueueOutcome: Equatable, Sendable {
        /// Queued under this id.
        case accepted(id: UInt64)
        /// Refused by reject-publish or reject-publish-dlx (publisher confirms: `basic.nack`).
        case rejected
    }

    /// What `dispatch` produced.
    package struct DispatchResult {
        /// Messages to send, in order.
        package var deliveries: [QueueDelivery<Payload>] = []
        /// Messages that expired at the head on the way.
        package var deadLetters: [DeadLetter<Payload>] = []
    }

    /// What `get` (`basic.get`) produced.
    package struct GetResult {
        /// The message, or nil when the queue has no ready message (`basic.get-empty`).
        package var message: QueueMessage<Payload>?
        /// Ready messages left after it (`basic.get-ok` `message-count`).
        package var remaining: Int
        /// Messages that expired at the head on the way.
        package var deadLetters: [DeadLetter<Payload>]
    }

    /// What removing a consumer did.
    package struct ConsumerRemoval {
        /// Unacked messages it held that went back to the queue (redelivered, at their positions).
        package var requeued: Int
        /// With single active consumer: the consumer that became active, for the caller to notify.
        package var activated: QueueConsumerID?
        /// Messages a length limit pushed out after the requeue.
        package var deadLetters: [DeadLetter<Payload>]
    }

    /// A registered consumer and how many unacked messages it holds.
    struct ConsumerState {
        var consumer: QueueConsumer
        var unacked = 0

        /// Whether its prefetch window has room for one more.
        var hasRoom: Bool {
            consumer.ackMode == .automatic || consumer.prefetch == 0 || unacked < consumer.prefetch
        }
    }

    /// Consumers of one priority, as a range of `dispatchOrder`, and whose turn it is.
    struct PriorityGroup {
        var start: Int
        var end: Int
        var cursor: Int
    }

    /// An unacked message and who holds it: `slot` indexes `consumers` (-1: a `basic.get`, or a consumer
    /// removed without requeueing).
    struct Unacked {
        var message: QueueMessage<Payload>
        var consumer: QueueConsumerID?
        var slot: Int
    }

    /// The queue's name (dead letters and refusal texts carry it).
    package let name: String
    /// The virtual host, for refusal texts.
    package let vhost: String
    package let arguments: QueueArguments

    /// Ready messages per priority level (one level without `maxPriority`), each in id order.
    var levels: [Deque<QueueMessage<Payload>>]
    /// Unacked messages by id.
    var unacked: [UInt64: Unacked] = [:]
    /// Registered consumers, oldest first (single active consumer picks the first).
    var consumers: [ConsumerState] = []
    /// `consumers` indices by descending priority, then registration; `groups` cut it by priority.
    var dispatchOrder: [Int] = []
    var groups: [PriorityGroup] = []
    /// Last use for `x-expires` (ns).
    var lastUsed: UInt64

    /// The newest id assigned (0 before the first message).
    package private(set) var lastID: UInt64 = 0
    /// Ready messages (AMQP `message-count`).
    package internal(set) var readyCount = 0
    /// Payload bytes of ready messages.
    package internal(set) var readyBytes = 0
    /// Payload bytes of unacked messages.
    package internal(set) var unackedBytes = 0

    /// An empty queue declared at `now` (`x-expires` counts from there while it has no consumer).
    package init(name: String, vhost: String = "/", arguments: QueueArguments = QueueArguments(), now: UInt64) {
        self.name = name
        self.vhost = vhost
        self.arguments = arguments
        self.levels = Array(repeating: Deque(), count: Int(arguments.maxPriority ?? 0) + 1)
        self.lastUsed = now
    }

    /// Unacked messages.
    package var unackedCount: Int { unacked.count }
    /// Registered consumers (AMQP `consumer-count`).
    package var consumerCount: Int { consumers.count }
    /// The registered consumers, oldest first.
    package var registeredConsumers: [QueueConsumer] { consumers.map(\.consumer) }
    /// With single active consumer, the one receiving messages.
    /// The consumers as registered, with how many messages each holds unacknowledged (for the admin API).
    package var consumerList: [(consumer: QueueConsumer, unacked: Int)] {
        consumers.map { ($0.consumer, $0.unacked) }
    }

    package var activeConsumer: QueueConsumerID? {
        arguments.singleActiveConsumer ? consumers.first?.consumer.id : nil
    }

    /// Ready messages in delivery order (for tests and inspection; O(n)).
    package var readyMessages: [QueueMessage<Payload>] { levels.reversed().flatMap { $0 } }
    /// Unacked messages by id, with who holds them (nil: a `basic.get`), in id order (O(n log n)).
    package var unackedMessages: [(message: QueueMessage<Payload>, consumer: QueueConsumerID?)] {
        unacked.values.sorted { $0.message.id < $1.message.id }.map { ($0.message, $0.consumer) }
    }

    // MARK: - Publishing

    /// Queues a message published at `now` with `bytes` payload bytes, the publisher's `priority`, its own
    /// time to live (`expiration`, ns; the shorter of it and the queue's applies), the persistence flag the
    /// caller keeps, and the exchange and routing keys it was published with (dead-lettering needs them).
    /// The length limits hold afterwards: drop-head dead-letters the oldest ready messages, reject-publish
    /// refuses this one (reject-publish-dlx also dead-letters it).
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func enqueue(
        _ payload: Payload, bytes: Int, priority: UInt8 = 0, timeToLive: UInt64? = nil, persistent: Bool = false,
        exchange: String = "", routingKeys: [String] = [], now: UInt64
    ) -> EnqueueResult {
        let level = Swift.min(priority, arguments.maxPriority ?? 0)
        let deadline = deadline(timeToLive: timeToLive, now: now)
        if arguments.overflow != .dropHead && wouldOverflow(adding: bytes) {
            guard arguments.overflow == .rejectPublishDeadLetter else {
                return EnqueueResult(outcome: .rejected, deadLetters: [])
            }
            let refused = QueueMessage(
                id: 0, payload: payload, bytes: bytes, priority: level, deadline: deadline, persistent: persistent,
                exchange: exchange, routingKeys: routingKeys)
            return EnqueueResult(outcome: .rejected, deadLetters: [deadLetter(refused, .maxLength)])
        }
        lastID += 1
        levels[Int(level)].append(
            QueueMessage(
                id: lastID, payload: payload, bytes: bytes, priority: level, deadline: deadline,
                persistent: persistent, exchange: exchange, routingKeys: routingKeys))
        readyCount += 1
        readyBytes += bytes
        var deadLetters: [DeadLetter<Payload>] = []
        dropHeadsOverLimit(into: &deadLetters)
        return EnqueueResult(outcome: .accepted(id: lastID), deadLetters: deadLetters)
    }

    /// Takes back a message kept across a restart, under its old `id`, with its absolute `deadline` and
    /// its `redelivered` flag. Restore in id order, before anything new is enqueued; ids stay increasing.
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func restore(
        _ payload: Payload, id: UInt64, bytes: Int, priority: UInt8, deadline: UInt64, exchange: String,
        routingKeys: [String], redelivered: Bool
    ) {
        let level = Swift.min(priority, arguments.maxPriority ?? 0)
        var message = QueueMessage(
            id: id, payload: payload, bytes: bytes, priority: level, deadline: deadline, persistent: true,
            exchange: exchange, routingKeys: routingKeys)
        message.redelivered = redelivered
        levels[Int(level)].append(message)
        lastID = Swift.max(lastID, id)
        readyCount += 1
        readyBytes += bytes
    }

    /// Takes a message another server instance stored in this queue (several instances on one database,
    /// docs/storage.md), under the `id` it was stored with: ids of such messages lie above every id this
    /// queue hands out, so they do not move `lastID`. It goes among the ready ones at its id's position.
    @_specialize(exported:true,where Payload == BrokeredMessage)
    package mutating func adopt(
        _ payload: Payload, id: UInt64, bytes: Int, priority: UInt8, deadline: UInt64, exchange: String,
        routingKeys: [String], redelivered: Bool
    ) {
        let level = Swift.min(priority, arguments.maxPriority ?? 0)
        var message = QueueMessage(
            id: id, payload: payload, bytes: bytes, priority: level, deadline: deadline, persistent: true,
            exchange: exchange, routingKeys: routingKeys)
        message.redelivered = redelivered
        insertReady(message)
    }

    /// Ids handed out from now on follow `id` (a new owner among several instances starts above what an
    /// earlier owner may still be writing).
    package mutating func continueIDs(after id: UInt64) {
        lastID = Swift.max(lastID, id)
    }

    /// When a message enqueued at `now` with its own `timeToLive` expires here: the shorter of its TTL
    /// and the queue's (`x-message-ttl`); `UInt64.max` for never. The store keeps it absolute, so a TTL
    /// goes on running across a restart.
    package func deadline(timeToLive: UInt64?, now: UInt64) -> UInt64 {
        let ttl: UInt64? =
            switch (arguments.messageTimeToLive, timeToLive) {
            case (let queue?, let message?): Swift.min(queue, message)
            case (let queue?, nil): queue
            case (nil, let message?): message
            case (nil, nil): nil
            }
        return ttl.map { $0 > UInt64.max - now ? UInt64.max : now + $0 } ?? UInt64.max
    }

    // MARK: - Idle expiry (x-expires)

    /// Records a use that restarts the `x-expires` clock (a redeclare; consumers and `get` count already).
    package mutating func touch(now: UInt64) {
        lastUsed = Swift.max(lastUsed, now)
    }

    /// When the queue becomes deletable for being unused: nil without `x-expires` or while it has consumers.
    package var idleDeadline: UInt64? {
        guard let expires = arguments.expires, consumers.isEmpty else { return nil }
        return expires > UInt64.max - lastUsed ? UInt64.max : lastUsed + expires
    }

    /// Whether the owner should delete the queue now (`x-expires` passed without use).
    package func isExpired(now: UInt64) -> Bool {
        idleDeadline.map { now >= $0 } ?? false
    }

    // MARK: - Internals shared by the extensions

    /// The priority level the next message comes from, nil when nothing is ready.
    var headLevel: Int? {
        guard readyCount > 0 else { return nil }
        var level = levels.count - 1
        while levels[level].isEmpty { level -= 1 }
        return level
    }

    /// Takes the next ready message (the caller checked there is one at `level`).
    mutating func removeHead(level: Int) -> QueueMessage<Payload> {
        let message = levels[level].removeFirst()
        readyCount -= 1
        readyBytes -= message.bytes
        return message
    }

    /// Puts a message back among the ready ones at its id's position (RabbitMQ requeues in place).
    mutating func insertReady(_ message: QueueMessage<Payload>) {
        let level = Int(message.priority)
        readyCount += 1
        readyBytes += message.bytes
        // Requeued messages are usually older than every ready one: the front, O(1).
        if levels[level].first.map({ message.id < $0.id }) ?? true {
            levels[level].prepend(message)
        } else if let last = levels[level].last, last.id < message.id {
            levels[level].append(message)
        } else {
            var low = 0
            var high = levels[level].count
            while low < high {
                let middle = (low + high) / 2
                if levels[level][middle].id < message.id { low = middle + 1 } else { high = middle }
            }
            levels[level].insert(message, at: low)
        }
    }

    /// Whether one more message of `bytes` would pass a length limit (RabbitMQ's `will_overflow`).
    func wouldOverflow(adding bytes: Int) -> Bool {
        if let maximum = arguments.maxLength, readyCount + 1 > maximum { return true }
        if let maximum = arguments.maxLengthBytes, readyBytes + bytes > maximum { return true }
        return false
    }

    /// Drop-head: dead-letters the next messages until the length limits hold.
    mutating func dropHeadsOverLimit(into deadLetters: inout [DeadLetter<Payload>]) {
        guard arguments.overflow == .dropHead else { return }
        while let level = headLevel,
            readyCount > (arguments.maxLength ?? .max) || readyBytes > (arguments.maxLengthBytes ?? .max)
        {
            deadLetters.append(deadLetter(removeHead(level: level), .maxLength))
        }
    }

    /// The dead letter for `message` leaving for `reason`, routed by the queue's dead-letter arguments.
    func deadLetter(_ message: QueueMessage<Payload>, _ reason: DeadLetterReason) -> DeadLetter<Payload> {
        let exchange = arguments.deadLetterExchange
        let keys = exchange == nil ? [] : arguments.deadLetterRoutingKey.map { [$0] } ?? message.routingKeys
        return DeadLetter(message: message, reason: reason, queue: name, exchange: exchange, routingKeys: keys)
    }
}
