import BusCore
import NIOCore
import NIOPosix
import Testing

@testable import BusRuntime

/// `Bus.transfer`: a subscription handed to another subscriber mid-stream is routed to exactly one of them.
@Suite struct BusTransferTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    @Test func everyMessageReachesExactlyOneSideOfATransfer() async throws {
        let bus = Bus(eventLoops: loops)
        let slot = bus.metrics.slot(for: "test")
        let before = TestSubscriber(eventLoop: loops[0], slot: slot)
        let after = TestSubscriber(eventLoop: loops[1], slot: slot)
        let old = try await bus.subscribeOnLoop("moving/+", before).value.subscription
        let topic = try Topic("moving/x")
        let loop = loops[0]
        try await loop.submit {
            for i in 0..<1000 {
                if i == 500 { _ = bus.transfer(old, to: after, subscriberID: "s") }
                bus.publish(BusMessage(topic: topic, payload: ByteBuffer(string: "\(i)"), timestamp: 0), on: loop)
            }
        }.get()
        #expect(await eventually { before.payloads.count + after.payloads.count == 1000 })
        #expect(Set(before.payloads).isDisjoint(with: Set(after.payloads)))
        #expect(before.payloads + after.payloads == (0..<1000).map { "\($0)" })
        #expect(bus.registry.count == 1)
        #expect(bus.registry.channelCounts() == ["moving/+": 1])
    }
}
