import BusCore
import NIOCore
import Testing

@testable import BusRuntime
@testable import NATSFrontend

/// The consumer's ack floors, kept incrementally (`JetStreamDeliveryOrder`): after out-of-order acks,
/// redeliveries, NAKs and terminations they must be what the pending map says — the stream floor just
/// below the oldest pending stream sequence, the consumer floor just below the oldest consumer sequence
/// still pending, both the last delivered once nothing is pending.
@Suite struct JetStreamAckFloorTests {
    private func log(_ count: Int) -> [StreamReadRecord] {
        (1...count).map { sequence in
            StreamReadRecord(
                partition: 0, offset: UInt64(sequence), time: UInt64(sequence),
                record: StreamRecord(
                    message: BusMessage(topic: Topic(trusted: "a"), payload: ByteBuffer(), timestamp: 0), key: nil))
        }
    }

    /// The floors as the pending map gives them by scanning it (what the state computed before).
    private func expectFloorsMatchPending(
        _ state: JetStreamConsumerState, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let streamFloor = state.pending.keys.min().map { $0 - 1 } ?? state.deliveredStreamSequence
        let consumerFloor =
            state.pending.values.map(\.consumerSequence).min().map { $0 - 1 } ?? state.deliveredConsumerSequence
        #expect(state.ackFloorStreamSequence == streamFloor, sourceLocation: sourceLocation)
        #expect(state.ackFloorConsumerSequence == consumerFloor, sourceLocation: sourceLocation)
    }

    @Test func floorsAfterOutOfOrderAcksAndRedeliveries() {
        let records = log(10)
        let read = { (from: UInt64, limit: Int) in Array(records.filter { $0.offset >= from }.prefix(limit)) }
        var config = JetStreamConsumerConfig(name: "c")
        config.ackWait = 10
        var state = JetStreamConsumerState(config: config, filters: [], cursor: 1)
        #expect(state.next(limit: 5, now: 0, read: read).map(\.consumerSequence) == [1, 2, 3, 4, 5])
        // Acks past the oldest pending move nothing.
        state.acknowledge(2, .ack, now: 1)
        state.acknowledge(4, .ack, now: 1)
        #expect(state.ackFloorStreamSequence == 0)
        #expect(state.ackFloorConsumerSequence == 0)
        // Acking the oldest moves both floors up to the next pending (3).
        state.acknowledge(1, .ack, now: 2)
        #expect(state.ackFloorStreamSequence == 2)
        #expect(state.ackFloorConsumerSequence == 2)
        // 3 and 5 come again as consumer sequences 6 and 7: the consumer floor is below 6 now, the
        // stream floor stays below 3.
        let again = state.next(limit: 5, now: 20, read: read)
        #expect(again.map(\.streamSequence) == [3, 5, 6, 7, 8])
        #expect(again.map(\.consumerSequence) == [6, 7, 8, 9, 10])
        #expect(state.ackFloorStreamSequence == 2)
        #expect(state.ackFloorConsumerSequence == 5)
        #expect(state.redeliveredCount == 2)
        // The redelivered 5 acked first, then 3: the floors jump to the first-delivered 6.
        state.acknowledge(5, .ack, now: 21)
        #expect(state.ackFloorStreamSequence == 2)
        state.acknowledge(3, .ack, now: 21)
        #expect(state.ackFloorStreamSequence == 5)
        #expect(state.ackFloorConsumerSequence == 7)
        // A terminated delivery counts as done; with nothing pending both floors are the last delivered.
        state.acknowledge(7, .terminate, now: 22)
        state.acknowledge(6, .ack, now: 22)
        #expect(state.ackFloorStreamSequence == 7)
        #expect(state.ackFloorConsumerSequence == 9)
        state.acknowledge(8, .ack, now: 22)
        #expect(state.pending.isEmpty)
        #expect(state.ackFloorStreamSequence == 8)
        #expect(state.ackFloorConsumerSequence == 10)
        #expect(state.redeliveredCount == 0)
    }

    /// A deterministic random walk of pulls, acks, NAKs, progress, terminations and redeliveries (with
    /// `max_deliver`), checking after every step that the incremental floors equal a scan of `pending`.
    @Test(arguments: [JetStreamConsumerConfig.AckPolicy.explicit, .all])
    func floorsMatchAScanThroughARandomWalk(policy: JetStreamConsumerConfig.AckPolicy) {
        let records = log(3000)
        let read = { (from: UInt64, limit: Int) in
            from > 3000 ? [] : Array(records[Int(from - 1)..<min(3000, Int(from - 1) + limit)])
        }
        var config = JetStreamConsumerConfig(name: "c")
        config.ackPolicy = policy
        config.ackWait = 50
        config.maxDeliver = 4
        var state = JetStreamConsumerState(config: config, filters: [], cursor: 1)
        var random = SplitMix(seed: policy == .all ? 7 : 19)
        var now: UInt64 = 0
        for _ in 0..<6000 {
            now += random.next(below: 8)
            if random.next(below: 4) == 0 {
                _ = state.next(limit: Int(random.next(below: 12)) + 1, now: now, read: read)
                _ = state.takeExhausted()
            } else if let sequence = state.pending.keys.sorted().randomElement(using: &random) {
                let acknowledgement: JetStreamConsumerState.Acknowledgement
                switch random.next(below: 10) {
                case 0: acknowledgement = .nak(delay: random.next(below: 30))
                case 1: acknowledgement = .inProgress
                case 2: acknowledgement = .terminate
                default: acknowledgement = .ack
                }
                state.acknowledge(sequence, acknowledgement, now: now)
            }
            expectFloorsMatchPending(state)
        }
    }

    /// One delivery that is never acknowledged while thousands are: the order keeps about what is pending,
    /// not everything delivered since.
    @Test func deliveryOrderStaysBoundedBehindAStuckDelivery() {
        var order = JetStreamDeliveryOrder()
        var live: Set<UInt64> = [1]
        order.append(key: 1, streamSequence: 1)
        var oldestAlwaysTheStuckOne = true
        var mostHeld = 0
        for sequence in UInt64(2)...50_000 {
            order.append(key: sequence, streamSequence: sequence)
            live.insert(sequence)
            if sequence - 1 != 1 { live.remove(sequence - 1) }
            oldestAlwaysTheStuckOne =
                oldestAlwaysTheStuckOne && order.oldest(isLive: { live.contains($0.key) })?.key == 1
            order.compact(liveCount: live.count, isLive: { live.contains($0.key) })
            mostHeld = max(mostHeld, order.heldCount)
        }
        #expect(oldestAlwaysTheStuckOne)
        #expect(live.count == 2)
        #expect(mostHeld <= 2 * live.count + 1024 + 1)
    }

    @Test func deliveryOrderKeepsAnOutOfOrderKeySorted() {
        var order = JetStreamDeliveryOrder()
        for key: UInt64 in [2, 5, 9] { order.append(key: key, streamSequence: key) }
        order.append(key: 4, streamSequence: 4)
        #expect(order.removeThrough(5).map(\.key) == [2, 4, 5])
        #expect(order.oldest(isLive: { _ in true })?.key == 9)
    }
}

/// SplitMix64: a seeded generator, so a failing walk fails the same way again.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func next(below bound: UInt64) -> UInt64 { next() % bound }
}
