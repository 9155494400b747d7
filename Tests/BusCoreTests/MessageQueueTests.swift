import BusCore
import Testing

/// One queue with RabbitMQ classic-queue semantics: order, priorities, prefetch, consumers, requeue,
/// TTL, length limits, dead letters. Time is the test's (nanoseconds); payloads are strings.
@Suite struct MessageQueueTests {
    typealias Queue = MessageQueue<String>
    static let second: UInt64 = 1_000_000_000
    var second: UInt64 { Self.second }

    @discardableResult
    func publish(
        _ queue: inout Queue, _ text: String, priority: UInt8 = 0, ttl: UInt64? = nil, at now: UInt64 = 0,
        keys: [String] = ["rk"]
    ) -> Queue.EnqueueResult {
        queue.enqueue(
            text, bytes: text.utf8.count, priority: priority, timeToLive: ttl, exchange: "x", routingKeys: keys,
            now: now)
    }

    func consumer(
        _ id: UInt64, prefetch: Int = 0, ackMode: QueueAckMode = .manual, exclusive: Bool = false, priority: Int = 0
    ) -> QueueConsumer {
        QueueConsumer(
            id: QueueConsumerID(id), tag: "c\(id)", prefetch: prefetch, ackMode: ackMode, exclusive: exclusive,
            priority: priority)
    }

    /// (consumer, payload) per delivery.
    func sent(_ result: Queue.DispatchResult) -> [String] {
        result.deliveries.map { "\($0.consumer.rawValue):\($0.message.payload)" }
    }

    @Test func fifoOrderWithIncreasingIDs() throws {
        var queue = Queue(name: "q", now: 0)
        #expect(publish(&queue, "a").outcome == .accepted(id: 1))
        #expect(publish(&queue, "bb").outcome == .accepted(id: 2))
        #expect(publish(&queue, "c").outcome == .accepted(id: 3))
        #expect(queue.readyCount == 3 && queue.readyBytes == 4 && queue.lastID == 3)
        try queue.addConsumer(consumer(1), now: 0)
        let result = queue.dispatch(now: 0)
        #expect(sent(result) == ["1:a", "1:bb", "1:c"])
        #expect(result.deliveries.allSatisfy { !$0.message.redelivered && $0.message.deliveryCount == 1 })
        #expect(result.deliveries[0].message.exchange == "x" && result.deliveries[0].message.routingKeys == ["rk"])
        #expect(queue.readyCount == 0 && queue.unackedCount == 3 && queue.unackedBytes == 4)
        #expect(queue.ack(2)?.payload == "bb")
        #expect(queue.ack(2) == nil)
        #expect(queue.unackedCount == 2 && queue.unackedBytes == 2)
    }

    /// Messages another instance stored in the queue (several instances on one database) keep their ids,
    /// above every id the queue hands out, and do not move `lastID`; a new owner's ids start past what an
    /// earlier owner may still be writing.
    @Test func adoptedMessagesKeepTheirIDsAndLeaveTheQueuesOwnAlone() throws {
        var queue = Queue(name: "q", now: 0)
        publish(&queue, "own1")
        let forwarded: UInt64 = 1 << 62
        queue.adopt(
            "far2", id: forwarded + 20, bytes: 4, priority: 0, deadline: .max, exchange: "", routingKeys: ["q"],
            redelivered: false)
        queue.adopt(
            "far1", id: forwarded + 10, bytes: 4, priority: 0, deadline: .max, exchange: "", routingKeys: ["q"],
            redelivered: true)
        #expect(queue.lastID == 1)
        #expect(queue.readyMessages.map(\.payload) == ["own1", "far1", "far2"])
        queue.continueIDs(after: 1_000)
        #expect(publish(&queue, "own2").outcome == .accepted(id: 1_001))
        try queue.addConsumer(consumer(1), now: 0)
        let result = queue.dispatch(now: 0)
        #expect(sent(result) == ["1:own1", "1:far1", "1:far2", "1:own2"])
        #expect(result.deliveries[1].message.redelivered && result.deliveries[1].message.id == forwarded + 10)
        #expect(queue.ack(forwarded + 20)?.payload == "far2")
        #expect(queue.readyBytes == 0 && queue.unackedCount == 3)
    }

    @Test func priorityOrderIsHighestFirstAndFIFOWithinOne() throws {
        var queue = Queue(name: "q", arguments: QueueArguments(maxPriority: 5), now: 0)
        publish(&queue, "low1", priority: 0)
        publish(&queue, "top1", priority: 9)  // above the maximum: counts as 5
        publish(&queue, "mid", priority: 3)
        publish(&queue, "top2", priority: 5)
        publish(&queue, "low2", priority: 0)
        #expect(queue.readyMessages.map(\.payload) == ["top1", "top2", "mid", "low1", "low2"])
        #expect(queue.readyMessages.first?.priority == 5)
        try queue.addConsumer(consumer(1), now: 0)
        #expect(sent(queue.dispatch(now: 0)) == ["1:top1", "1:top2", "1:mid", "1:low1", "1:low2"])
        // Without x-max-priority the publisher's priority is ignored.
        var fifo = Queue(name: "f", now: 0)
        publish(&fifo, "a", priority: 0)
        publish(&fifo, "b", priority: 9)
        #expect(fifo.readyMessages.map(\.payload) == ["a", "b"])
    }

    @Test func prefetchWindowLimitsUnackedMessages() throws {
        var queue = Queue(name: "q", now: 0)
        for text in ["a", "b", "c", "d", "e"] { publish(&queue, text) }
        try queue.addConsumer(consumer(1, prefetch: 2), now: 0)
        #expect(sent(queue.dispatch(now: 0)) == ["1:a", "1:b"])
        #expect(queue.dispatch(now: 0).deliveries.isEmpty)
        #expect(queue.unackedCount(of: QueueConsumerID(1)) == 2)
        queue.ack(1)
        #expect(sent(queue.dispatch(now: 0)) == ["1:c"])
        queue.ack([2, 3])
        #expect(sent(queue.dispatch(now: 0, limit: 1)) == ["1:d"])
    }

    @Test func equalPriorityConsumersTakeTurns() throws {
        var queue = Queue(name: "q", now: 0)
        try queue.addConsumer(consumer(1), now: 0)
        try queue.addConsumer(consumer(2), now: 0)
        try queue.addConsumer(consumer(3), now: 0)
        for index in 1...7 { publish(&queue, "m\(index)") }
        #expect(sent(queue.dispatch(now: 0)) == ["1:m1", "2:m2", "3:m3", "1:m4", "2:m5", "3:m6", "1:m7"])
        // The turn carries over to the next dispatch.
        publish(&queue, "m8")
        #expect(sent(queue.dispatch(now: 0)) == ["2:m8"])
    }

    @Test func higherPriorityConsumersGoFirstWhileTheyHaveRoom() throws {
        var queue = Queue(name: "q", now: 0)
        try queue.addConsumer(consumer(1), now: 0)
        try queue.addConsumer(consumer(2, prefetch: 2, priority: 10), now: 0)
        try queue.addConsumer(consumer(3), now: 0)
        for index in 1...5 { publish(&queue, "m\(index)") }
        #expect(sent(queue.dispatch(now: 0)) == ["2:m1", "2:m2", "1:m3", "3:m4", "1:m5"])
        queue.ack(1)
        publish(&queue, "m6")
        #expect(sent(queue.dispatch(now: 0)) == ["2:m6"])
    }

    @Test func admitClosureCarriesTheChannelsLimit() throws {
        var queue = Queue(name: "q", now: 0)
        try queue.addConsumer(consumer(1), now: 0)
        try queue.addConsumer(consumer(2), now: 0)
        for index in 1...6 { publish(&queue, "m\(index)") }
        // basic.qos global = 3 spanning both consumers; consumer 1's connection is not writable.
        var credit = 3
        let result = queue.dispatch(now: 0) { id in
            guard id.rawValue == 2, credit > 0 else { return false }
            credit -= 1
            return true
        }
        #expect(sent(result) == ["2:m1", "2:m2", "2:m3"])
        #expect(queue.readyCount == 3)
    }

    @Test func singleActiveConsumerHandsOverInRegistrationOrder() throws {
        var queue = Queue(name: "q", arguments: QueueArguments(singleActiveConsumer: true), now: 0)
        #expect(try queue.addConsumer(consumer(1, prefetch: 2), now: 0))
        #expect(try !queue.addConsumer(consumer(2), now: 0))
        #expect(try !queue.addConsumer(consumer(3, priority: 99), now: 0))
        #expect(queue.activeConsumer == QueueConsumerID(1))
        for text in ["a", "b", "c"] { publish(&queue, text) }
        #expect(sent(queue.dispatch(now: 0)) == ["1:a", "1:b"])  // the others wait, even with room
        let removed = queue.removeConsumer(QueueConsumerID(1), now: 0)
        let removal = try #require(removed)
        #expect(removal.activated == QueueConsumerID(2) && removal.requeued == 2)
        let next = queue.dispatch(now: 0)
        #expect(sent(next) == ["2:a", "2:b", "2:c"])
        #expect(next.deliveries.map(\.message.redelivered) == [true, true, false])
        // Removing a waiting consumer activates nobody.
        #expect(queue.removeConsumer(QueueConsumerID(3), now: 0)?.activated == nil)
        #expect(try queue.addConsumer(consumer(4, exclusive: false), now: 0) == false)
    }

    @Test func requeueGoesBackToTheOriginalPositionRedelivered() throws {
        var queue = Queue(name: "q", now: 0)
        for text in ["a", "b", "c", "d"] { publish(&queue, text) }
        #expect(queue.get(now: 0, autoAck: false).message?.id == 1)
        #expect(queue.get(now: 0, autoAck: false).message?.id == 2)
        #expect(queue.reject(2, requeue: true).isEmpty)
        #expect(queue.readyMessages.map(\.id) == [2, 3, 4])
        #expect(queue.get(now: 0, autoAck: false).message?.id == 2)
        #expect(queue.get(now: 0, autoAck: false).message?.id == 3)
        // Back in id order, whatever order they are rejected in.
        #expect(queue.reject([3, 1], requeue: true).isEmpty)
        #expect(queue.readyMessages.map(\.id) == [1, 3, 4])
        #expect(queue.readyMessages.map(\.redelivered) == [true, true, false])
        try queue.addConsumer(consumer(1), now: 0)
        let again = queue.dispatch(now: 0).deliveries
        #expect(again.map(\.message.id) == [1, 3, 4])
        #expect(again.map(\.message.deliveryCount) == [2, 2, 1])
        #expect(queue.unackedMessages.map(\.message.id) == [1, 2, 3, 4])
    }

    @Test func requeueInTheMiddleOfAPriorityLevel() throws {
        var queue = Queue(name: "q", arguments: QueueArguments(maxPriority: 2), now: 0)
        for index in 1...5 { publish(&queue, "m\(index)", priority: index % 2 == 0 ? 2 : 0) }
        try queue.addConsumer(consumer(1), now: 0)
        _ = queue.dispatch(now: 0)
        _ = queue.reject([1, 4], requeue: true)
        #expect(queue.readyMessages.map(\.id) == [4, 1])
        publish(&queue, "m6", priority: 2)
        _ = queue.reject([5, 2, 3], requeue: true)
        #expect(queue.readyMessages.map(\.id) == [2, 4, 6, 1, 3, 5])
    }

    @Test func removingAConsumerReturnsItsUnackedMessages() throws {
        var queue = Queue(name: "q", now: 0)
        for text in ["a", "b", "c", "d"] { publish(&queue, text) }
        try queue.addConsumer(consumer(1, prefetch: 3), now: 0)
        try queue.addConsumer(consumer(2, prefetch: 1), now: 0)
        #expect(sent(queue.dispatch(now: 0)) == ["1:a", "2:b", "1:c", "1:d"])
        queue.ack(3)
        let removed = queue.removeConsumer(QueueConsumerID(1), now: 0)
        let removal = try #require(removed)
        #expect(removal.requeued == 2)
        #expect(queue.readyMessages.map(\.id) == [1, 4] && queue.readyMessages.allSatisfy(\.redelivered))
        #expect(queue.unackedCount == 1 && queue.consumerCount == 1)
        // Consumer 2 keeps its slot bookkeeping after the shift.
        queue.ack(2)
        #expect(sent(queue.dispatch(now: 0)) == ["2:a"])
        #expect(queue.removeConsumer(QueueConsumerID(9), now: 0) == nil)
    }

    @Test func cancellingWithoutRequeueLeavesMessagesUnackedForTheChannel() throws {
        var queue = Queue(name: "q", now: 0)
        for text in ["a", "b"] { publish(&queue, text) }
        try queue.addConsumer(consumer(1), now: 0)
        _ = queue.dispatch(now: 0)
        let removed = queue.removeConsumer(QueueConsumerID(1), requeueUnacked: false, now: 0)
        let removal = try #require(removed)
        #expect(removal.requeued == 0 && queue.unackedCount == 2)
        #expect(queue.unackedMessages.map(\.consumer) == [QueueConsumerID(1), QueueConsumerID(1)])
        #expect(queue.ack(1)?.payload == "a")
        #expect(queue.reject(2, requeue: true).isEmpty)
        #expect(queue.readyMessages.map(\.payload) == ["b"])
    }

    @Test func autoAckMessagesLeaveOnDelivery() throws {
        var queue = Queue(name: "q", now: 0)
        for index in 1...5 { publish(&queue, "m\(index)") }
        try queue.addConsumer(consumer(1, prefetch: 1, ackMode: .automatic), now: 0)
        #expect(queue.dispatch(now: 0, limit: 3).deliveries.count == 3)  // prefetch is ignored, the limit holds
        #expect(queue.unackedCount == 0 && queue.readyCount == 2)
        var deliveries: [QueueDelivery<String>] = []
        var deadLetters: [DeadLetter<String>] = []
        queue.dispatch(now: 0, into: &deliveries, deadLetters: &deadLetters)
        #expect(deliveries.map(\.message.payload) == ["m4", "m5"] && deadLetters.isEmpty)
    }

    @Test func basicGetTakesTheNextMessage() {
        var queue = Queue(name: "q", now: 0)
        #expect(queue.get(now: 0, autoAck: false).message == nil)
        publish(&queue, "a")
        publish(&queue, "b")
        let first = queue.get(now: 0, autoAck: false)
        #expect(first.message?.payload == "a" && first.remaining == 1)
        #expect(queue.unackedMessages.first?.consumer == nil)
        let second = queue.get(now: 0, autoAck: true)
        #expect(second.message?.payload == "b" && second.remaining == 0)
        #expect(queue.unackedCount == 1)
        #expect(queue.ack(1)?.payload == "a")
    }

    @Test func queueAndMessageTimeToLive() throws {
        var queue = Queue(
            name: "q", arguments: QueueArguments(messageTimeToLive: 10 * second, deadLetterExchange: "dlx"), now: 0)
        publish(&queue, "queue-ttl", at: 0)
        publish(&queue, "own-shorter", ttl: 2 * second, at: 5 * second)  // 7 s
        publish(&queue, "own-longer", ttl: 60 * second, at: 5 * second)  // the queue's 15 s wins
        #expect(queue.readyMessages.map(\.deadline) == [10 * second, 7 * second, 15 * second])
        #expect(queue.nextExpiry == 10 * second)
        #expect(queue.expire(now: 9 * second).isEmpty)  // 7 s is behind the head
        let expired = queue.expire(now: 10 * second)
        #expect(expired.map(\.message.payload) == ["queue-ttl", "own-shorter"])
        #expect(expired.allSatisfy { $0.reason == .expired && $0.exchange == "dlx" && $0.routingKeys == ["rk"] })
        try queue.addConsumer(consumer(1), now: 0)
        #expect(sent(queue.dispatch(now: 12 * second)) == ["1:own-longer"])
        // A message's own TTL alone.
        var plain = Queue(name: "p", now: 0)
        publish(&plain, "m", ttl: second, at: 0)
        #expect(plain.expire(now: second).map(\.exchange) == [nil])
    }

    @Test func timeToLiveZeroDeliversOnlyToAConsumerThatTakesItAtOnce() throws {
        var queue = Queue(name: "q", arguments: QueueArguments(messageTimeToLive: 0), now: 0)
        publish(&queue, "nobody", at: 5)
        let lost = queue.dispatch(now: 5)
        #expect(lost.deliveries.isEmpty && lost.deadLetters.map(\.reason) == [.expired])
        try queue.addConsumer(consumer(1, prefetch: 1), now: 5)
        publish(&queue, "taken", at: 6)
        #expect(sent(queue.dispatch(now: 6)) == ["1:taken"])
        publish(&queue, "full", at: 7)  // the consumer's window is full
        #expect(queue.dispatch(now: 7).deadLetters.map(\.message.payload) == ["full"])
        // basic.get never sees it either.
        publish(&queue, "got", at: 8)
        #expect(queue.get(now: 8, autoAck: true).message == nil)
        // A per-message TTL of 0 behaves the same.
        var plain = Queue(name: "p", now: 0)
        publish(&plain, "m", ttl: 0, at: 1)
        #expect(plain.expire(now: 1).count == 1)
    }

    @Test func expiryHappensOnlyAtTheHead() throws {
        var queue = Queue(name: "q", now: 0)
        publish(&queue, "long", ttl: 100, at: 0)
        publish(&queue, "short", ttl: 1, at: 0)
        #expect(queue.expire(now: 50).isEmpty)
        #expect(queue.readyCount == 2)
        try queue.addConsumer(consumer(1), now: 0)
        let result = queue.dispatch(now: 50)
        #expect(sent(result) == ["1:long"])
        #expect(result.deadLetters.map(\.message.payload) == ["short"])
        // Requeued, the message keeps its deadline.
        #expect(queue.reject(1, requeue: true).isEmpty)
        #expect(queue.get(now: 100, autoAck: true).deadLetters.map(\.message.payload) == ["long"])
    }

    @Test func maxLengthDropHeadDeadLettersTheOldest() {
        let arguments = QueueArguments(maxLength: 2, deadLetterExchange: "dlx", deadLetterRoutingKey: "dead")
        var queue = Queue(name: "q", arguments: arguments, now: 0)
        publish(&queue, "a")
        publish(&queue, "b")
        let third = publish(&queue, "c")
        #expect(third.outcome == .accepted(id: 3))
        #expect(third.deadLetters.map(\.message.payload) == ["a"])
        #expect(third.deadLetters.first?.reason == .maxLength && third.deadLetters.first?.routingKeys == ["dead"])
        #expect(third.deadLetters.first?.exchange == "dlx" && third.deadLetters.first?.queue == "q")
        #expect(queue.readyMessages.map(\.payload) == ["b", "c"])
        // Unacked messages do not count.
        _ = queue.get(now: 0, autoAck: false)
        #expect(publish(&queue, "d").deadLetters.isEmpty)
        // Length 0 drops the message itself.
        var none = Queue(name: "z", arguments: QueueArguments(maxLength: 0), now: 0)
        let dropped = publish(&none, "x")
        #expect(dropped.outcome == .accepted(id: 1) && dropped.deadLetters.map(\.message.id) == [1])
        #expect(dropped.deadLetters.first?.exchange == nil && none.readyCount == 0)
    }

    @Test func rejectPublishRefusesAndRejectPublishDeadLetterAlsoDeadLetters() {
        var queue = Queue(name: "q", arguments: QueueArguments(maxLength: 2, overflow: .rejectPublish), now: 0)
        publish(&queue, "a")
        publish(&queue, "b")
        let refused = publish(&queue, "c")
        #expect(refused.outcome == .rejected && refused.deadLetters.isEmpty)
        #expect(queue.lastID == 2 && queue.readyMessages.map(\.payload) == ["a", "b"])
        let arguments = QueueArguments(maxLength: 1, overflow: .rejectPublishDeadLetter, deadLetterExchange: "dlx")
        var dlx = Queue(name: "d", arguments: arguments, now: 0)
        publish(&dlx, "a")
        let result = publish(&dlx, "b", keys: ["k1", "k2"])
        #expect(result.outcome == .rejected)
        #expect(result.deadLetters.map(\.message.payload) == ["b"] && result.deadLetters.first?.message.id == 0)
        #expect(
            result.deadLetters.first?.reason == .maxLength && result.deadLetters.first?.routingKeys == ["k1", "k2"])
    }

    @Test func maxLengthBytesCountsReadyPayloadBytes() {
        var queue = Queue(name: "q", arguments: QueueArguments(maxLengthBytes: 10), now: 0)
        publish(&queue, "aaaa")
        publish(&queue, "bbbb")
        #expect(publish(&queue, "cccc").deadLetters.map(\.message.payload) == ["aaaa"])
        #expect(queue.readyBytes == 8)
        #expect(publish(&queue, "0123456789").deadLetters.map(\.message.payload) == ["bbbb", "cccc"])
        var strict = Queue(
            name: "s", arguments: QueueArguments(maxLengthBytes: 10, overflow: .rejectPublish), now: 0)
        publish(&strict, "0123456")
        #expect(publish(&strict, "0123").outcome == .rejected)
        #expect(publish(&strict, "012").outcome == .accepted(id: 2))
    }

    @Test func requeueRespectsDropHead() {
        var queue = Queue(name: "q", arguments: QueueArguments(maxLength: 2), now: 0)
        publish(&queue, "a")
        publish(&queue, "b")
        _ = queue.get(now: 0, autoAck: false)
        _ = queue.get(now: 0, autoAck: false)
        publish(&queue, "c")
        publish(&queue, "d")
        let dropped = queue.reject([1, 2], requeue: true)
        #expect(dropped.map(\.message.payload) == ["a", "b"] && dropped.allSatisfy { $0.reason == .maxLength })
        #expect(queue.readyMessages.map(\.payload) == ["c", "d"])
    }

    @Test func purgeRemovesReadyMessagesOnly() throws {
        var queue = Queue(name: "q", now: 0)
        for text in ["a", "b", "c"] { publish(&queue, text) }
        _ = queue.get(now: 0, autoAck: false)
        #expect(queue.purge().map(\.payload) == ["b", "c"])
        #expect(queue.readyCount == 0 && queue.readyBytes == 0 && queue.unackedCount == 1)
        #expect(queue.purge().isEmpty)
        #expect(publish(&queue, "d").outcome == .accepted(id: 4))
    }

    @Test func rejectWithoutRequeueDeadLettersOrDrops() throws {
        var withExchange = Queue(name: "q", arguments: QueueArguments(deadLetterExchange: ""), now: 0)
        publish(&withExchange, "a", keys: ["orders", "cc"])
        _ = withExchange.get(now: 0, autoAck: false)
        let dead = withExchange.reject(1, requeue: false)
        #expect(dead.count == 1 && dead[0].reason == .rejected && dead[0].exchange == "")
        #expect(dead[0].routingKeys == ["orders", "cc"] && dead[0].message.exchange == "x")
        #expect(withExchange.unackedCount == 0 && withExchange.readyCount == 0)
        var plain = Queue(name: "p", now: 0)
        publish(&plain, "a")
        _ = plain.get(now: 0, autoAck: false)
        let dropped = plain.reject([1, 7], requeue: false)  // an unknown id is ignored
        #expect(dropped.count == 1 && dropped[0].exchange == nil && dropped[0].routingKeys.isEmpty)
    }

    @Test func deathHistoryMergesByQueueAndReasonMostRecentFirst() {
        var queue = Queue(name: "q1", arguments: QueueArguments(deadLetterExchange: "dlx"), now: 0)
        publish(&queue, "a", keys: ["k"])
        _ = queue.get(now: 0, autoAck: false)
        let letter = queue.reject(1, requeue: false)[0]
        var history = DeathRecord.recording(letter.deathRecord(time: 10), into: [])
        #expect(
            history == [DeathRecord(queue: "q1", reason: .rejected, exchange: "x", routingKeys: ["k"], time: 10)])
        let other = DeathRecord(queue: "q2", reason: .expired, exchange: "dlx", routingKeys: ["k"], time: 20)
        history = DeathRecord.recording(other, into: history)
        let again = DeathRecord(queue: "q1", reason: .rejected, exchange: "dlx", routingKeys: ["z"], time: 30)
        history = DeathRecord.recording(again, into: history)
        #expect(history.map(\.queue) == ["q1", "q2"])
        #expect(history[0].count == 2 && history[0].time == 10 && history[0].exchange == "x")
        let expiredThere = DeathRecord(queue: "q1", reason: .expired, exchange: "x", routingKeys: ["k"], time: 40)
        history = DeathRecord.recording(expiredThere, into: history)
        #expect(history.map(\.reason) == [.expired, .rejected, .expired] && history.map(\.count) == [1, 2, 1])
        #expect(
            DeadLetterReason.maxLength.rawValue == "maxlen"
                && DeadLetterReason.deliveryLimit.rawValue == "delivery_limit")
    }

    @Test func exclusiveConsumersAndDuplicateIDsAreRefused() throws {
        var queue = Queue(name: "q", vhost: "v", now: 0)
        try queue.addConsumer(consumer(1, exclusive: true), now: 0)
        let inUse = BrokerRefusal(.accessRefused, "queue 'q' in vhost 'v' in exclusive use")
        #expect(throws: inUse) { try queue.addConsumer(consumer(2), now: 0) }
        _ = queue.removeConsumer(QueueConsumerID(1), now: 0)
        try queue.addConsumer(consumer(2), now: 0)
        #expect(throws: inUse) { try queue.addConsumer(consumer(3, exclusive: true), now: 0) }
        #expect(throws: BrokerRefusal.self) { try queue.addConsumer(consumer(2), now: 0) }
        var single = Queue(name: "s", arguments: QueueArguments(singleActiveConsumer: true), now: 0)
        #expect(throws: BrokerRefusal.self) { try single.addConsumer(consumer(1, exclusive: true), now: 0) }
        #expect(queue.registeredConsumers.map(\.tag) == ["c2"])
    }

    @Test func idleExpiryCountsFromTheLastUse() throws {
        var queue = Queue(name: "q", arguments: QueueArguments(expires: 10), now: 100)
        #expect(queue.idleDeadline == 110)
        #expect(!queue.isExpired(now: 109) && queue.isExpired(now: 110))
        publish(&queue, "a", at: 105)  // publishing is no use
        #expect(queue.idleDeadline == 110)
        try queue.addConsumer(consumer(1), now: 105)
        #expect(queue.idleDeadline == nil && !queue.isExpired(now: 1_000))
        _ = queue.removeConsumer(QueueConsumerID(1), now: 200)
        #expect(queue.idleDeadline == 210)
        _ = queue.get(now: 205, autoAck: true)
        #expect(queue.idleDeadline == 215)
        queue.touch(now: 212)
        #expect(queue.idleDeadline == 222)
        #expect(Queue(name: "n", now: 0).idleDeadline == nil)
    }
}
