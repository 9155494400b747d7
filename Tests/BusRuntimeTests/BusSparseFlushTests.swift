import BusCore
import NIOCore
import NIOPosix
import Testing

@testable import BusRuntime

/// `LoopShard.flushTouched`: a sparse batch (one message for many connections) is flushed a slice at a
/// time, so a message that comes before a connection's turn shares its flush; a dense batch is flushed
/// at once; nothing is left unflushed.
@Suite struct BusSparseFlushTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    @Test func aMessageBeforeAConnectionsTurnSharesItsFlush() async throws {
        let loop = group.next()
        let bus = Bus(eventLoops: [loop])
        let slot = bus.metrics.slot(for: "test")
        let count = LoopShard.flushSlice * 3
        let subscribers = (0..<count).map { _ in TestSubscriber(eventLoop: loop, slot: slot) }
        for (index, subscriber) in subscribers.enumerated() {
            _ = try await bus.subscribeOnLoop("collections/tasks/+", subscriber, id: "s\(index)")
        }
        let topic = try Topic("collections/tasks/r1")
        loop.execute {
            bus.publish(BusMessage(topic: topic, payload: ByteBuffer(string: "1"), timestamp: 0), on: loop)
            // Queued after the hand-off, which flushes the first slice and leaves the rest for later.
            loop.execute {
                bus.publish(BusMessage(topic: topic, payload: ByteBuffer(string: "2"), timestamp: 0), on: loop)
            }
        }
        #expect(
            await eventually {
                subscribers.allSatisfy { $0.payloads.count == 2 } && subscribers.map(\.flushes).reduce(0, +) >= count
            })
        try await Task.sleep(for: .milliseconds(20))
        #expect(subscribers.allSatisfy { $0.payloads == ["1", "2"] })
        let slice = LoopShard.flushSlice
        // The first slice was flushed for the first message, and again for the second; every other
        // connection once, for both.
        #expect(subscribers[..<slice].allSatisfy { $0.flushes == 2 })
        #expect(subscribers[slice...].allSatisfy { $0.flushes == 1 })
    }

    @Test func aDenseBatchIsFlushedAtOnce() async throws {
        let loop = group.next()
        let bus = Bus(eventLoops: [loop])
        let slot = bus.metrics.slot(for: "test")
        let subscribers = (0..<(LoopShard.flushSlice * 2)).map { _ in TestSubscriber(eventLoop: loop, slot: slot) }
        for (index, subscriber) in subscribers.enumerated() {
            _ = try await bus.subscribeOnLoop("burst", subscriber, id: "s\(index)")
        }
        let topic = try Topic("burst")
        let messages = LoopShard.sparseBatchMessages + 1
        // The flushes counted in the same task as the publishes' hand-off: none is left for later.
        let flushed = try await loop.submit {
            for index in 0..<messages {
                bus.publish(BusMessage(topic: topic, payload: ByteBuffer(string: "\(index)"), timestamp: 0), on: loop)
            }
        }.flatMap { loop.submit { subscribers.map(\.flushes) } }.get()
        #expect(flushed.allSatisfy { $0 == 1 })
        #expect(subscribers.allSatisfy { $0.payloads.count == messages })
    }
}
