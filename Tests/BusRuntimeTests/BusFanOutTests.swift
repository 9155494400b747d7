import BusCore
import NIOCore
import NIOPosix
import Testing

@testable import BusRuntime

@Suite struct BusFanOutTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    @Test func deliversAcrossLoopsInPublisherOrder() async throws {
        let bus = Bus(eventLoops: loops)
        let slot = bus.metrics.slot(for: "test")
        let local = TestSubscriber(eventLoop: loops[0], slot: slot)
        let remote = TestSubscriber(eventLoop: loops[1], slot: slot)
        _ = try await bus.subscribeOnLoop("orders/+", local)
        _ = try await bus.subscribeOnLoop("orders/#", remote)
        let topic = try Topic("orders/eu")
        let loop = loops[0]
        try await loop.submit {
            for i in 0..<500 {
                bus.publish(BusMessage(topic: topic, payload: ByteBuffer(string: "\(i)"), timestamp: 0), on: loop)
            }
        }.get()
        let expected = (0..<500).map { "\($0)" }
        #expect(
            await eventually {
                local.payloads.count == 500 && remote.payloads.count == 500 && local.flushes > 0 && remote.flushes > 0
            })
        #expect(local.payloads == expected)
        #expect(remote.payloads == expected)
        // One batch was published in one loop tick: each subscriber is flushed once for it.
        #expect(local.flushes == 1)
        #expect(remote.flushes == 1)
    }

    @Test func sharedGroupDeliversEachMessageToExactlyOneMember() async throws {
        let bus = Bus(eventLoops: loops)
        let slot = bus.metrics.slot(for: "test")
        let members = (0..<3).map { TestSubscriber(eventLoop: loops[$0 % 2], slot: slot) }
        for (index, member) in members.enumerated() {
            _ = try await bus.subscribeOnLoop("$share/workers/jobs/+", member, id: "m\(index)")
        }
        let plain = TestSubscriber(eventLoop: loops[1], slot: slot)
        _ = try await bus.subscribeOnLoop("jobs/+", plain)
        for i in 0..<300 {
            _ = try await bus.publishOnLoop("jobs/\(i % 7)", "\(i)", loop: loops[i % 2])
        }
        #expect(await eventually { members.map(\.payloads.count).reduce(0, +) == 300 && plain.payloads.count == 300 })
        let all = members.flatMap(\.payloads)
        #expect(Set(all).count == 300)
        #expect(members.allSatisfy { !$0.payloads.isEmpty })
    }

    @Test func unsubscribedGetsNothingMore() async throws {
        let bus = Bus(eventLoops: loops)
        let subscriber = TestSubscriber(eventLoop: loops[0], slot: bus.metrics.slot(for: "test"))
        let result = try await bus.subscribeOnLoop("a/b", subscriber)
        _ = try await bus.publishOnLoop("a/b", "1", loop: loops[1])
        #expect(await eventually { subscriber.payloads == ["1"] })
        let subscription = result.value.subscription
        try await loops[0].submit { bus.unsubscribe(subscription) }.get()
        let after = try await bus.publishOnLoop("a/b", "2", loop: loops[1])
        #expect(after.recipients == 0)
        try await Task.sleep(for: .milliseconds(50))
        #expect(subscriber.payloads == ["1"])
    }

    @Test func noLocalSkipsOwnMessages() async throws {
        let bus = Bus(eventLoops: loops)
        let subscriber = TestSubscriber(eventLoop: loops[0], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("a", subscriber, id: "me", options: SubscriptionOptions(noLocal: true))
        _ = try await bus.publishOnLoop("a", "mine", loop: loops[0], publisher: "me")
        _ = try await bus.publishOnLoop("a", "theirs", loop: loops[0], publisher: "other")
        #expect(await eventually { subscriber.payloads == ["theirs"] })
    }

    @Test func expiredMessagesAreNotDelivered() async throws {
        let bus = Bus(eventLoops: loops)
        let subscriber = TestSubscriber(eventLoop: loops[0], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("a", subscriber)
        let topic = try Topic("a")
        let loop = loops[1]
        try await loop.submit {
            bus.publish(
                BusMessage(
                    topic: topic, payload: ByteBuffer(string: "old"), headers: MessageHeaders(expiresAt: 1),
                    timestamp: 0), on: loop)
            bus.publish(BusMessage(topic: topic, payload: ByteBuffer(string: "new"), timestamp: 0), on: loop)
        }.get()
        #expect(await eventually { subscriber.payloads == ["new"] })
    }
}
