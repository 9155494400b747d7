import BusCore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import BusRuntime

/// The bound on a loop's backlog of deliveries from other loops (LoopShard+HandOver.swift): a publisher's
/// loop that hands a busy loop more than `handOverBound` pauses the publishers of what it handed, once each;
/// the busy loop lets them go when its backlog is down to half; nothing handed over is dropped.
@Suite struct BusHandOverBoundTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    /// Publishes `count` messages of 64 KiB from `publisher` on loop 0, one "read" (a dispatch) each, while
    /// loop 1 — the subscriber's — is held busy; then lets loop 1 go. Returns the pause calls made while it
    /// was busy and all of them at the end.
    private func flood(count: Int) async throws -> (
        whileBusy: [String], atTheEnd: [String], received: [String], outstanding: Int
    ) {
        let bus = Bus(eventLoops: loops)
        let calls = NIOLockedValueBox<[String]>([])
        bus.setPublisherPausing { publisher, paused, pauser in
            calls.withLockedValue { $0.append("\(publisher) \(paused) \(pauser == LoopShard.handOverPauser(1))") }
        }
        let subscriber = TestSubscriber(eventLoop: loops[1], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("flood", subscriber)
        let busy = DispatchSemaphore(value: 0)
        loops[1].execute { busy.wait() }
        let topic = try Topic("flood")
        let shard = bus.shards[0]
        try await loops[0].submit {
            for n in 0..<count {
                var payload = ByteBuffer(string: "\(n) ")
                payload.writeRepeatingByte(0x78, count: 65_536 - payload.readableBytes)
                shard.publish(BusMessage(topic: topic, payload: payload, publisherID: "p", timestamp: 1))
                shard.flushWritten()  // the end of one read: the hand-off goes
            }
        }.get()
        let whileBusy = calls.withLockedValue { $0 }
        let outstanding = bus.shards[1].handOver.outstandingBytes
        busy.signal()
        #expect(await eventually { subscriber.messages.count == count })
        if !whileBusy.isEmpty { #expect(await eventually { calls.withLockedValue { $0.count } == 2 }) }
        #expect(await eventually { bus.shards[1].handOver.outstandingBytes == 0 })
        let received = subscriber.messages.map { String(buffer: $0.payload).split(separator: " ")[0] }.map(String.init)
        return (whileBusy, calls.withLockedValue { $0 }, received, outstanding)
    }

    @Test func aBacklogPastTheBoundPausesItsPublisherOnceUntilItIsDownToHalf() async throws {
        let count = LoopShard.handOverBound / 65_536 * 3 / 2
        let result = try await flood(count: count)
        #expect(result.outstanding > LoopShard.handOverBound)
        #expect(result.whileBusy == ["p true true"])
        #expect(result.atTheEnd == ["p true true", "p false true"])
        #expect(result.received == (0..<count).map(String.init), "a message handed over was lost or reordered")
    }

    @Test func aBacklogUnderTheBoundPausesNothing() async throws {
        let count = LoopShard.handOverBound / 65_536 - 2
        let result = try await flood(count: count)
        #expect(result.whileBusy.isEmpty && result.atTheEnd.isEmpty)
        #expect(result.received == (0..<count).map(String.init))
    }
}
