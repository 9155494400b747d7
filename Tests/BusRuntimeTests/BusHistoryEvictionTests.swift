import Atomics
import BusCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import BusRuntime

/// The buses these tests made. The loops outlive each test (its group is never shut down) and a shard
/// refers to its bus unowned: a delivery batch still queued when a test returns would touch a freed bus.
private let keptBuses = NIOLockedValueBox<[Bus]>([])

/// Idle history logs are evicted, and all logs together stay under `maxHistoryBytes` (issue 25).
@Suite struct BusHistoryEvictionTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }
    /// The bus's clock, in seconds (nanoseconds in the bus).
    let seconds = ManagedAtomic<UInt64>(1)

    func makeBus(_ rules: [HistoryPolicy.Rule], maxBytes: Int = 64 << 20) -> Bus {
        let seconds = self.seconds
        let bus = Bus(
            eventLoops: loops,
            configuration: BusConfiguration(history: HistoryPolicy(rules: rules), maxHistoryBytes: maxBytes),
            clock: { seconds.load(ordering: .relaxed) * 1_000_000_000 })
        keptBuses.withLockedValue { $0.append(bus) }
        return bus
    }

    func rule(_ filter: String, count: Int = 100, age: Double? = 120, durable: Bool = false) throws
        -> HistoryPolicy.Rule
    {
        .init(
            filter: try TopicFilter(filter), limits: HistoryLimits(count: count, maxAgeSeconds: age, durable: durable))
    }

    /// Under an on-demand rule (the server's default) a publish makes no log: NATS- and MQTT-like
    /// subscribers cannot resume, so their traffic costs no append. A subscriber that can resume makes
    /// the log before it registers, so every publish routed after its subscribe is in it; a history read
    /// makes one too, and publishers whose plans were cached without it append from then on.
    @Test func onDemandLogIsMadeByAResumingSubscriberOrARead() async throws {
        let onDemand = HistoryPolicy.Rule(
            filter: try TopicFilter("#"), limits: HistoryLimits(count: 100, maxAgeSeconds: 120, onDemand: true))
        let bus = makeBus([onDemand])
        let slot = bus.metrics.slot(for: "test")
        let plain = TestSubscriber(eventLoop: loops[1], slot: slot)
        _ = try await bus.subscribeOnLoop("sensors/t", plain)
        let routed = try await bus.publishOnLoop("sensors/t", "1", loop: loops[0])
        #expect(routed.position == nil)
        #expect(bus.history.log(for: try Topic("sensors/t"), create: true) == nil)
        #expect(bus.history.topicCount == 0)

        let resuming = TestSubscriber(eventLoop: loops[1], slot: slot, resumesFromPositions: true)
        let subscribed = try await bus.subscribeOnLoop("sensors/t", resuming)
        let epoch = try #require(subscribed.value.position?.epoch)
        // The publisher's loop had a plan without a log: the subscribe made it stale.
        let logged = try await bus.publishOnLoop("sensors/t", "2", loop: loops[0])
        #expect(logged.position == LogPosition(offset: 1, epoch: epoch))
        let read = try #require(bus.readHistory(try Topic("sensors/t"), after: nil, limit: 10))
        #expect(read.messages.map { String(buffer: $0.payload) } == ["2"])

        // A read of a topic nobody follows makes its log; the next publish from a loop with a cached plan
        // lands in it.
        _ = try await bus.publishOnLoop("other", "a", loop: loops[0])
        let first = try #require(bus.readHistory(try Topic("other"), after: nil, limit: 10))
        #expect(first.messages.isEmpty)
        let after = try await bus.publishOnLoop("other", "b", loop: loops[0])
        #expect(after.position?.offset == 1)
        #expect(after.position?.epoch == first.position.epoch)
    }

    /// Under the on-demand default, per-request topics (reply subjects, record topics) share their family's
    /// plan, as without history; once one of them gets a log the family stops sharing, and that topic's
    /// publishes land in its log whatever its siblings did before.
    @Test func aFamilySharesItsPlanUntilOneOfItsTopicsHasALog() async throws {
        let onDemand = HistoryPolicy.Rule(
            filter: try TopicFilter("#"), limits: HistoryLimits(count: 100, maxAgeSeconds: 120, onDemand: true))
        let bus = makeBus([onDemand])
        let slot = bus.metrics.slot(for: "test")
        _ = try await bus.subscribeOnLoop("orders/+", TestSubscriber(eventLoop: loops[1], slot: slot))
        for i in 1...20 { _ = try await bus.publishOnLoop("orders/\(i)", "a", loop: loops[0]) }
        let shared = try await loops[0].submit { bus.shard(for: self.loops[0]).cachedPlanCounts }.get()
        #expect(shared.families == 1 && shared.topics == 0)

        let resuming = TestSubscriber(eventLoop: loops[1], slot: slot, resumesFromPositions: true)
        let subscribed = try await bus.subscribeOnLoop("orders/7", resuming)
        let epoch = try #require(subscribed.value.position?.epoch)
        var positions: [Int: LogPosition] = [:]
        for i in [3, 9, 7, 12, 7] {
            positions[i] = try await bus.publishOnLoop("orders/\(i)", "b\(i)", loop: loops[0]).position
        }
        #expect(positions[7] == LogPosition(offset: 2, epoch: epoch))
        #expect(positions[3] == nil && positions[9] == nil && positions[12] == nil)
        let apart = try await loops[0].submit { bus.shard(for: self.loops[0]).cachedPlanCounts }.get()
        #expect(apart.families == 0 && apart.topics == 4)
        let read = try #require(bus.readHistory(try Topic("orders/7"), after: nil, limit: 10))
        #expect(read.messages.map { String(buffer: $0.payload) } == ["b7", "b7"])
    }

    /// A log nobody subscribes to and nothing touched within its age is evicted; a client resuming from
    /// its epoch is told it could not recover, and the topic's next publish starts a new epoch at offset 1.
    @Test func idleLogIsEvictedAndItsEpochIsNeverResumedInto() async throws {
        let bus = makeBus([try rule("#")])
        for i in 1...3 { _ = try await bus.publishOnLoop("a/b", "\(i)", loop: loops[0]) }
        let old = try #require(bus.readHistory(try Topic("a/b"), after: nil, limit: 10)?.position)
        #expect(old.offset == 3)
        seconds.store(100, ordering: .relaxed)
        #expect(bus.evictIdleHistory().evicted == 0)
        seconds.store(300, ordering: .relaxed)
        #expect(bus.evictIdleHistory().evicted == 1)
        #expect(bus.history.topicCount == 0)
        // The same loop publishes again: its cached plan held the evicted log.
        let next = try await bus.publishOnLoop("a/b", "4", loop: loops[0])
        #expect(next.position?.offset == 1)
        #expect(next.position?.epoch != old.epoch)
        let resumed = try #require(bus.readHistory(try Topic("a/b"), after: old, limit: 10))
        #expect(resumed.recovered == false)
        let slot = bus.metrics.slot(for: "test")
        let subscriber = TestSubscriber(eventLoop: loops[1], slot: slot)
        let recovering = try await bus.subscribeOnLoop("a/b", subscriber, history: .recover(old, fallback: 10))
        #expect(recovering.value.recovered == false)
        #expect(recovering.value.messages.map { String(buffer: $0.payload) } == ["4"])
    }

    /// A topic with a subscriber keeps its log (its skip offset comes from it); once the subscriber leaves,
    /// the log stays for its age from then, so the subscriber can still recover.
    @Test func subscribedLogIsKeptAndOutlivesItsLastSubscriberByItsAge() async throws {
        let bus = makeBus([try rule("#")])
        let slot = bus.metrics.slot(for: "test")
        let subscriber = TestSubscriber(eventLoop: loops[1], slot: slot)
        let subscribed = try await bus.subscribeOnLoop("room", subscriber, history: .last(0))
        let wildcard = TestSubscriber(eventLoop: loops[0], slot: slot)
        _ = try await bus.subscribeOnLoop("#", wildcard)
        let published = try await bus.publishOnLoop("room", "1", loop: loops[0])
        seconds.store(1_000, ordering: .relaxed)
        #expect(bus.evictIdleHistory().evicted == 0)
        let subscription = subscribed.value.subscription
        try await loops[1].submit { bus.unsubscribe(subscription) }.get()
        seconds.store(1_100, ordering: .relaxed)
        // Only the wildcard subscriber is left (it reads no log): still within the age of the unsubscribe.
        #expect(bus.evictIdleHistory().evicted == 0)
        let recovered = try #require(bus.readHistory(try Topic("room"), after: published.position, limit: 10))
        #expect(recovered.recovered == true)
        seconds.store(1_300, ordering: .relaxed)
        #expect(bus.evictIdleHistory().evicted == 1)
    }

    /// Past the memory bound the least recently used logs nobody subscribes to go first, whatever their
    /// age; while the logs still do not fit, new topics keep no history.
    @Test func memoryBoundEvictsLeastRecentlyUsedAndRefusesNewLogsWhileFull() async throws {
        let payload = String(repeating: "x", count: 1_000)
        let perLog = HistoryStore.logOverheadBytes + HistoryStore.messageOverheadBytes + 1_000
        let bus = makeBus([try rule("#", age: nil)], maxBytes: 3 * perLog)
        let slot = bus.metrics.slot(for: "test")
        let subscriber = TestSubscriber(eventLoop: loops[0], slot: slot)
        _ = try await bus.subscribeOnLoop("t/0", subscriber)
        for i in 0..<6 {
            seconds.store(UInt64(10 + i), ordering: .relaxed)
            _ = try await bus.publishOnLoop("t/\(i)", payload, loop: loops[i % 2])
        }
        let pass = bus.evictIdleHistory()
        #expect(pass.evicted == 3)
        #expect(pass.estimatedBytes == 3 * perLog)
        // t/0 is the oldest but subscribed; t/1 … t/3 were the least recently used of the rest.
        for (topic, kept) in [
            ("t/0", true), ("t/1", false), ("t/2", false), ("t/3", false), ("t/4", true), ("t/5", true),
        ] {
            #expect((bus.history.log(for: try Topic(topic), create: false) != nil) == kept, "\(topic)")
        }
        // Every log left is subscribed and they outgrow the bound: nothing can go, so new topics get no
        // log until a pass finds room.
        _ = try await bus.subscribeOnLoop("t/4", subscriber, id: "s4")
        _ = try await bus.subscribeOnLoop("t/5", subscriber, id: "s5")
        _ = try await bus.publishOnLoop("t/5", payload, loop: loops[1])
        let full = bus.evictIdleHistory()
        #expect(full.evicted == 0 && full.estimatedBytes > 3 * perLog)
        #expect(bus.history.log(for: try Topic("t/7"), create: true) == nil)
        #expect(try await bus.publishOnLoop("t/7", payload, loop: loops[0]).position == nil)
        #expect(bus.history.evictedCount == 3)
    }

    /// Durable logs are the store's, not memory's to drop: never evicted.
    @Test func durableLogsAreNeverEvicted() async throws {
        let bus = makeBus([try rule("keep/#", durable: true), try rule("#")])
        _ = bus.readHistory(try Topic("keep/a"), after: nil, limit: 1)
        _ = bus.readHistory(try Topic("drop/a"), after: nil, limit: 1)
        seconds.store(10_000, ordering: .relaxed)
        #expect(bus.evictIdleHistory().evicted == 1)
        #expect(bus.history.log(for: try Topic("keep/a"), create: false) != nil)
        #expect(bus.history.log(for: try Topic("drop/a"), create: false) == nil)
    }
}
