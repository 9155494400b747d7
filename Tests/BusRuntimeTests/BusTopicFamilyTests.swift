import BusCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import BusRuntime

/// A topic per record shares one cached plan with its siblings (`LoopShard`'s family cache) only while
/// nothing tells them apart: these publish to such families before and after something does.
@Suite struct BusTopicFamilyTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    @Test func subscriberOfOneRecordGetsOnlyItsRecordAfterTheFamilyWasCached() async throws {
        let bus = Bus(eventLoops: loops)
        let slot = bus.metrics.slot(for: "test")
        let all = TestSubscriber(eventLoop: loops[0], slot: slot)
        let one = TestSubscriber(eventLoop: loops[1], slot: slot)
        _ = try await bus.subscribeOnLoop("collections/tasks/+", all, id: "all")
        for id in 0..<3 {
            let result = try await bus.publishOnLoop("collections/tasks/r\(id)", "a\(id)", loop: loops[0])
            #expect(result.recipients == 1)
        }
        _ = try await bus.subscribeOnLoop("collections/tasks/r1", one, id: "one")
        for id in 0..<3 {
            let result = try await bus.publishOnLoop("collections/tasks/r\(id)", "b\(id)", loop: loops[0])
            #expect(result.recipients == (id == 1 ? 2 : 1))
        }
        #expect(await eventually { all.payloads.count == 6 && one.payloads.count == 1 })
        #expect(all.payloads == ["a0", "a1", "a2", "b0", "b1", "b2"])
        #expect(one.payloads == ["b1"])
        // Another collection is another family.
        #expect(try await bus.publishOnLoop("collections/notes/r1", "c", loop: loops[0]).recipients == 0)
    }

    @Test func aTopicWithAHistoryRuleOfItsOwnKeepsItsLog() async throws {
        let bus = Bus(
            eventLoops: loops,
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("devices/d1/status"), limits: HistoryLimits(count: 10))
                ])))
        let subscriber = TestSubscriber(eventLoop: loops[0], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("devices/d1/+", subscriber)
        #expect(try await bus.publishOnLoop("devices/d1/battery", "1", loop: loops[0]).position == nil)
        #expect(try await bus.publishOnLoop("devices/d1/status", "2", loop: loops[0]).position?.offset == 1)
        #expect(try await bus.publishOnLoop("devices/d1/signal", "3", loop: loops[0]).position == nil)
        #expect(await eventually { subscriber.payloads == ["1", "2", "3"] })
    }

    @Test func anAcceptorNamingTheLastLevelGetsItsTopicAfterASiblingWasCached() async throws {
        let bus = Bus(eventLoops: loops)
        let acceptor = PublicationAcceptorTests.HeldAcceptor()
        bus.register(acceptor, for: try TopicFilter("votes/+/cast"))
        let subscriber = TestSubscriber(eventLoop: loops[0], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("votes/v1/+", subscriber)
        _ = try await bus.publishOnLoop("votes/v1/comment", "1", loop: loops[0])
        _ = try await bus.publishOnLoop("votes/v1/cast", "2", loop: loops[0])
        _ = try await bus.publishOnLoop("votes/v1/note", "3", loop: loops[0])
        #expect(await eventually { subscriber.payloads == ["1", "2", "3"] })
        #expect(acceptor.held.withLockedValue { $0.map(\.0) } == ["2"])
    }
}
