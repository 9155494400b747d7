import BusCore
import SwitchboardTestSupport
import Testing

/// Random publishes, dispatches, acks, rejects, gets, consumer churn, purges and sweeps against queues
/// with random arguments: every accepted message ends exactly once acked, dead-lettered (or dropped),
/// purged, consumed by an auto-ack delivery, or still in the queue; no message is out to two holders at
/// once; the counters agree with the contents and the bounds hold after every step.
@Suite struct MessageQueueInvariantTests {
    enum Fate: Equatable {
        case ready, unacked, acked, deadLettered, purged, consumed
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] as [UInt64])
    func everyMessageEndsExactlyOnce(seed: UInt64) throws {
        var random = SplitMix(state: seed)
        let arguments = QueueArguments(
            maxPriority: seed % 3 == 0 ? 4 : nil, messageTimeToLive: seed % 2 == 0 ? 40 : nil,
            maxLength: seed % 4 == 1 ? 12 : nil, maxLengthBytes: seed % 4 == 2 ? 100 : nil,
            overflow: [.dropHead, .rejectPublish, .rejectPublishDeadLetter][Int(seed % 3)],
            deadLetterExchange: seed % 5 == 0 ? nil : "dlx", singleActiveConsumer: seed % 6 == 5)
        var queue = MessageQueue<UInt64>(name: "q", arguments: arguments, now: 0)
        var fate: [UInt64: Fate] = [:]
        var holder: [UInt64: QueueConsumerID?] = [:]
        var consumers: [QueueConsumer] = []
        var nextConsumer: UInt64 = 1
        var now: UInt64 = 0

        func settle(_ letters: [DeadLetter<UInt64>], step: Int) {
            for letter in letters where letter.message.id != 0 {
                let before = fate[letter.message.id]
                #expect(
                    before == .ready,
                    "step \(step): dead-lettered \(letter.message.id) from \(String(describing: before))")
                fate[letter.message.id] = .deadLettered
                #expect(letter.exchange == arguments.deadLetterExchange, "step \(step)")
            }
        }

        for step in 0..<3_000 {
            now += UInt64.random(in: 0...3, using: &random)
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<35:
                let bytes = Int.random(in: 0...20, using: &random)
                let ttl: UInt64? = Bool.random(using: &random) ? UInt64.random(in: 0...30, using: &random) : nil
                let result = queue.enqueue(
                    queue.lastID + 1, bytes: bytes, priority: UInt8.random(in: 0...6, using: &random), timeToLive: ttl,
                    now: now)
                if case .accepted(let id) = result.outcome {
                    #expect(fate[id] == nil, "step \(step)")
                    fate[id] = .ready
                }
                settle(result.deadLetters, step: step)
            case 35..<55:
                var credit = Int.random(in: 0...6, using: &random)
                let result = queue.dispatch(now: now, limit: Int.random(in: 1...8, using: &random)) { _ in
                    credit -= 1
                    return credit >= 0
                }
                settle(result.deadLetters, step: step)
                for delivery in result.deliveries {
                    let id = delivery.message.id
                    #expect(fate[id] == .ready, "step \(step): delivered \(id) while \(String(describing: fate[id]))")
                    #expect(delivery.message.payload == id, "step \(step)")
                    let auto = consumers.first { $0.id == delivery.consumer }?.ackMode == .automatic
                    fate[id] = auto ? .consumed : .unacked
                    if !auto { holder[id] = delivery.consumer }
                }
            case 55..<70:
                let outstanding = fate.filter { $0.value == .unacked }.keys.sorted()
                guard !outstanding.isEmpty else { break }
                let chosen = outstanding.filter { _ in Bool.random(using: &random) }
                switch Int.random(in: 0..<3, using: &random) {
                case 0:
                    #expect(queue.ack(chosen).map(\.id) == chosen, "step \(step)")
                    for id in chosen { fate[id] = .acked }
                case 1:
                    for id in chosen { fate[id] = .ready }
                    settle(queue.reject(chosen, requeue: true), step: step)
                default:
                    for id in chosen { fate[id] = .ready }  // dead-lettered from there
                    settle(queue.reject(chosen, requeue: false), step: step)
                }
            case 70..<76:
                let get = queue.get(now: now, autoAck: Bool.random(using: &random))
                settle(get.deadLetters, step: step)
                if let message = get.message {
                    #expect(fate[message.id] == .ready, "step \(step)")
                    fate[message.id] =
                        queue.unackedMessages.contains { $0.message.id == message.id } ? .unacked : .consumed
                    holder[message.id] = .some(nil)
                }
            case 76..<82:
                let added = QueueConsumer(
                    id: QueueConsumerID(nextConsumer), prefetch: Int.random(in: 0...4, using: &random),
                    ackMode: Int.random(in: 0..<4, using: &random) == 0 ? .automatic : .manual,
                    priority: Int.random(in: 0...2, using: &random))
                nextConsumer += 1
                if (try? queue.addConsumer(added, now: now)) != nil { consumers.append(added) }
            case 82..<90:
                guard !consumers.isEmpty else { break }
                let removed = consumers.remove(at: Int.random(in: 0..<consumers.count, using: &random))
                let requeue = Bool.random(using: &random)
                let held = holder.filter { fate[$0.key] == .unacked && $0.value == removed.id }.keys
                let outcome = queue.removeConsumer(removed.id, requeueUnacked: requeue, now: now)
                let removal = try #require(outcome)
                if requeue {
                    #expect(removal.requeued == held.count, "step \(step)")
                    for id in held { fate[id] = .ready }
                }
                settle(removal.deadLetters, step: step)
                if arguments.singleActiveConsumer {
                    #expect(removal.activated == nil || removal.activated == consumers.first?.id)
                }
            case 90..<92:
                for message in queue.purge() {
                    #expect(fate[message.id] == .ready, "step \(step)")
                    fate[message.id] = .purged
                }
            default:
                settle(queue.expire(now: now), step: step)
            }

            // The queue's view agrees with the ledger.
            let ready = queue.readyMessages
            let unacked = queue.unackedMessages
            #expect(Set(ready.map(\.id)) == Set(fate.filter { $0.value == .ready }.keys), "step \(step)")
            #expect(Set(unacked.map(\.message.id)) == Set(fate.filter { $0.value == .unacked }.keys), "step \(step)")
            #expect(ready.count == queue.readyCount && unacked.count == queue.unackedCount, "step \(step)")
            #expect(ready.map(\.bytes).reduce(0, +) == queue.readyBytes, "step \(step)")
            #expect(unacked.map(\.message.bytes).reduce(0, +) == queue.unackedBytes, "step \(step)")
            // Delivery order: priority, then id.
            #expect(
                zip(ready, ready.dropFirst()).allSatisfy { ($0.priority, $1.id) > ($1.priority, $0.id) }, "step \(step)"
            )
            if arguments.overflow == .dropHead {
                #expect(queue.readyCount <= arguments.maxLength ?? .max, "step \(step)")
                #expect(queue.readyBytes <= arguments.maxLengthBytes ?? .max, "step \(step)")
            }
            for consumer in consumers where consumer.ackMode == .manual && consumer.prefetch > 0 {
                #expect((queue.unackedCount(of: consumer.id) ?? 0) <= consumer.prefetch, "step \(step)")
            }
            #expect(queue.consumerCount == consumers.count, "step \(step)")
        }
        // Everything accounted for: each id has exactly one fate.
        #expect(fate.count == Int(queue.lastID) || arguments.overflow != .dropHead)
        #expect(Set(fate.keys).count == fate.count)
    }
}
