import BusCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storage
import SwitchboardTestSupport
import Testing

@testable import BusRuntime

@Suite struct BusDurableHistoryTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    func makeBus(_ store: any Store) throws -> Bus {
        Bus(
            eventLoops: loops,
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("orders/#"), limits: HistoryLimits(count: 3, durable: true)),
                    .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 10)),
                ])),
            store: store)
    }

    @Test func durableLogsContinueAfterARestart() async throws {
        let store = MemoryStore()
        var bus = try makeBus(store)
        var positions: [LogPosition] = []
        for i in 1...5 {
            positions.append(
                try #require(try await bus.publishOnLoop("orders/eu", "m\(i)", loop: loops[i % 2]).position))
        }
        #expect(positions.map(\.offset) == [1, 2, 3, 4, 5] && Set(positions.map(\.epoch)).count == 1)
        // Not durable: gone after the restart.
        _ = try await bus.publishOnLoop("chat/a", "x", loop: loops[0])

        bus = try makeBus(store)
        let restored = bus.restoreHistory(try store.load().logs)
        #expect(restored.logs == 1 && restored.messages == 3 && restored.reset == 0)
        let topic = try Topic("orders/eu")
        let read = try #require(bus.readHistory(topic, after: nil, limit: 10))
        #expect(read.messages.map { String(buffer: $0.payload) } == ["m3", "m4", "m5"])
        #expect(read.position == positions[4])
        let recovered = try #require(bus.readHistory(topic, after: positions[2], limit: 10))
        #expect(recovered.recovered == true && recovered.messages.map(\.offset) == [4, 5])
        let next = try await bus.publishOnLoop("orders/eu", "m6", loop: loops[0])
        #expect(next.position == LogPosition(offset: 6, epoch: positions[0].epoch))
        #expect(bus.readHistory(try Topic("chat/a"), after: nil, limit: 10)?.messages.isEmpty == true)
    }

    @Test func subscribersAndReadersSeeAMessageOnlyOnceStored() async throws {
        let store = GatedStore()
        let bus = try makeBus(store)
        let subscriber = TestSubscriber(eventLoop: loops[1], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("orders/#", subscriber)
        let result = loops[0].flatSubmit {
            bus.publishWithResult(
                BusMessage(topic: try! Topic("orders/eu"), payload: ByteBuffer(string: "a"), timestamp: bus.clock()),
                on: self.loops[0])
        }
        #expect(await eventually { store.heldCount == 1 })
        try await Task.sleep(for: .milliseconds(50))
        #expect(subscriber.payloads.isEmpty)
        #expect(bus.readHistory(try Topic("orders/eu"), after: nil, limit: 10)?.messages.isEmpty == true)
        store.release()
        #expect(try await result.get().position?.offset == 1)
        #expect(await eventually { subscriber.payloads == ["a"] })
        #expect(subscriber.messages.first?.position?.offset == 1)
    }

    func publish(_ bus: Bus, _ payload: String) -> EventLoopFuture<PublishResult> {
        loops[0].flatSubmit {
            bus.publishWithResult(
                BusMessage(
                    topic: try! Topic("orders/eu"), payload: ByteBuffer(string: payload), timestamp: bus.clock()),
                on: self.loops[0])
        }
    }

    /// A failed commit (a full disk) is reported, and its offset taken back: the log keeps its epoch and the
    /// messages acknowledged before it (test_store_faults.py's full disk found the log reset instead, which
    /// deleted the durable channel's acknowledged history), and the next message gets the offset.
    @Test func aFailedCommitIsReportedAndItsOffsetTakenBack() async throws {
        let store = GatedStore()
        let bus = try makeBus(store)
        let subscriber = TestSubscriber(eventLoop: loops[0], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("orders/#", subscriber)
        let stored = publish(bus, "z")
        #expect(await eventually { store.heldCount == 1 })
        store.release()
        let position = try #require(try await stored.get().position)
        let failing = publish(bus, "a")
        #expect(await eventually { store.heldCount == 1 })
        store.release(failing: true)
        let failed = try await failing.get()
        #expect(failed.failure != nil && failed.position == nil)
        let next = publish(bus, "b")
        #expect(await eventually { store.heldCount == 1 })
        store.release()
        #expect(try await next.get().position == LogPosition(offset: position.offset + 1, epoch: position.epoch))
        let read = try #require(bus.readHistory(try Topic("orders/eu"), after: nil, limit: 10))
        #expect(read.messages.map { String(buffer: $0.payload) } == ["z", "b"])
        #expect(await eventually { subscriber.payloads == ["z", "b"] })
        #expect(try store.inner.load().logs.first?.messages.map { String(buffer: $0.payload) } == ["z", "b"])
    }

    /// A failed commit whose log has a later reservation in flight (the next batch already submitted)
    /// cannot take its offset back: the log starts a new epoch, so no client resumes across the hole.
    @Test func aFailedCommitWithALaterReservationInFlightStartsANewEpoch() async throws {
        let store = GatedStore()
        let bus = try makeBus(store)
        let subscriber = TestSubscriber(eventLoop: loops[0], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("orders/#", subscriber)
        let first = publish(bus, "a")
        #expect(await eventually { store.heldCount == 1 })
        let second = publish(bus, "b")
        #expect(await eventually { store.heldCount == 2 })
        let epochBefore = try #require(bus.readHistory(try Topic("orders/eu"), after: nil, limit: 1)?.position.epoch)
        store.release(failing: true)
        #expect(try await first.get().failure != nil)
        #expect(try await second.get().failure != nil)
        let epochAfter = try #require(bus.readHistory(try Topic("orders/eu"), after: nil, limit: 1)?.position.epoch)
        #expect(epochAfter != epochBefore)
        // The next publication works, in the new epoch, and only it was delivered.
        let third = publish(bus, "c")
        // Held: the reset of the log, then the new publication.
        #expect(await eventually { store.heldCount == 2 })
        store.release()
        #expect(try await third.get().position == LogPosition(offset: 1, epoch: epochAfter))
        #expect(await eventually { subscriber.payloads == ["c"] })
    }

    @Test func aDamagedLogRestartsInANewEpoch() async throws {
        let store = MemoryStore()
        let bus = try makeBus(store)
        let topic = try Topic("orders/x")
        let damaged = StoredLog(topic: topic, epoch: "old", lastOffset: 9, messages: [], intact: false)
        #expect(bus.restoreHistory([damaged]).reset == 1)
        let position = try #require(bus.readHistory(topic, after: nil, limit: 1)?.position)
        #expect(position.epoch != "old" && position.offset == 0)
        #expect(try store.load().logs.first?.epoch == position.epoch)
    }
}
