import BusCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storage
import SwitchboardTestSupport
import Testing

@testable import BusRuntime

/// Streams on the running bus: capture by filter, partitioning, acknowledgement only once stored, reads,
/// consumer groups, and a restart on the same store.
@Suite struct BusStreamTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    func makeBus(_ store: (any Store)?, clock: (@Sendable () -> UInt64)? = nil) -> Bus {
        Bus(eventLoops: loops, store: store, clock: clock ?? Bus.systemClock)
    }

    static func configuration(
        _ name: String, _ filters: [String], partitions: Int = 1, limits: StreamLimits = StreamLimits(),
        storage: StreamStorage = .file
    ) throws -> StreamConfiguration {
        StreamConfiguration(
            name: name, filters: try filters.map { try TopicFilter($0) }, partitions: partitions, limits: limits,
            storage: storage)
    }

    static func create(_ bus: Bus, _ configuration: StreamConfiguration) async throws -> StreamInfo {
        try await withCheckedThrowingContinuation { continuation in
            bus.streams.create(configuration) { continuation.resume(with: $0) }
        }
    }

    static func publish(
        _ bus: Bus, _ topic: String, _ payload: String, key: String? = nil, partition: Int? = nil,
        stream: String? = nil, loop: any EventLoop
    ) async throws -> [StreamAppendAck] {
        let topic = try Topic(topic)
        let placement =
            key == nil && partition == nil && stream == nil
            ? nil : StreamPlacement(key: key.map { Array($0.utf8) }, partition: partition, stream: stream)
        return try await loop.flatSubmit {
            bus.publishToStreams(
                BusMessage(topic: topic, payload: ByteBuffer(string: payload), timestamp: bus.clock()),
                placement: placement, on: loop
            ).map(\.1)
        }.get()
    }

    static func texts(_ result: StreamReadResult) -> [String] {
        result.records.map { String(buffer: $0.record.message.payload) }
    }

    @Test func publishesToCapturedTopicsAreAppendedOnceEach() async throws {
        let bus = makeBus(MemoryStore())
        _ = try await Self.create(bus, try Self.configuration("orders", ["orders/#", "orders/eu/+"]))
        let first = try await Self.publish(bus, "orders/eu/1", "a", loop: loops[0])
        let second = try await Self.publish(bus, "orders/us", "b", loop: loops[1])
        let ignored = try await Self.publish(bus, "chat/x", "c", loop: loops[0])
        #expect(first.count == 1 && first[0].outcome == .stored && first[0].offset == 1)
        #expect(second.map(\.offset) == [2] && ignored.isEmpty)
        let read = try bus.streams.read("orders", partition: 0, from: 0)
        #expect(Self.texts(read) == ["a", "b"])
        #expect(read.records.map(\.record.message.topic.name) == ["orders/eu/1", "orders/us"])
        #expect(read.partition.firstOffset == 1 && read.partition.lastOffset == 2 && read.partition.messages == 2)
    }

    /// `isRoutedOnce` (a topic not cached, as a JetStream ack's) answers what `isRouted` does: nothing,
    /// a stream's capture, a wildcard subscriber, one naming the very topic, and after they leave (the
    /// answer per prefix is kept per registry generation).
    @Test func routedOnceAnswersAsRouted() async throws {
        let bus = makeBus(nil)
        _ = try await Self.create(bus, try Self.configuration("acks", ["js/ack/#"], storage: .memory))
        let topics = try ["js/ack/s/c/1/7/7/0/0", "other/x/1", "watched/x/2", "watched/x/3"].map { try Topic($0) }
        let prefixes = ["js/ack", "other/x", "watched/x", "watched/x"].map { LoopShard.OneOffPrefix($0) }
        let loop = loops[0]
        let answers = {
            try await loop.submit {
                let shard = bus.shard(for: loop)
                return zip(topics, prefixes).map { (shard.isRoutedOnce($0, under: $1), shard.isRouted($0)) }
            }.get()
        }
        let before = try await answers()
        #expect(before.map(\.0) == [true, false, false, false])
        #expect(before.map(\.0) == before.map(\.1))
        let subscriber = TestSubscriber(eventLoop: loops[1], slot: bus.metrics.slot(for: "test"))
        let wildcard = try await bus.subscribeOnLoop("watched/#", subscriber).value.subscription
        let subscribed = try await answers()
        #expect(subscribed.map(\.0) == [true, false, true, true])
        #expect(subscribed.map(\.0) == subscribed.map(\.1))
        try await loops[1].submit { bus.unsubscribe(wildcard) }.get()
        _ = try await bus.subscribeOnLoop("watched/x/3", subscriber)
        let named = try await answers()
        #expect(named.map(\.0) == [true, false, false, true])
        #expect(named.map(\.0) == named.map(\.1))
    }

    @Test func plainPublishesAreCapturedAndAStreamCreatedLaterStartsCapturing() async throws {
        let bus = makeBus(nil)
        // A publish before the stream exists caches a plan without it; creating the stream must refresh it.
        _ = try await bus.publishOnLoop("metrics/cpu", "before", loop: loops[0])
        _ = try await Self.create(bus, try Self.configuration("metrics", ["metrics/#"], storage: .memory))
        _ = try await bus.publishOnLoop("metrics/cpu", "after", loop: loops[0])
        #expect(Self.texts(try bus.streams.read("metrics", partition: 0, from: 0)) == ["after"])
        let topic = try Topic("metrics/cpu")
        let other = try Topic("other/cpu")
        let captured = try await loops[1].submit {
            let shard = bus.shard(for: self.loops[1])
            return (shard.isCapturedByStreams(topic), shard.isCapturedByStreams(other), shard.isRouted(topic))
        }.get()
        #expect(captured == (true, false, true))
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            bus.streams.delete("metrics") { continuation.resume(with: $0.mapError { $0 as any Error }) }
        }
        _ = try await bus.publishOnLoop("metrics/cpu", "gone", loop: loops[0])
        #expect(bus.streams.stream(named: "metrics") == nil && bus.streams.count == 0)
    }

    @Test func keysPartitionAsKafkaAndSubjectsStayTogether() async throws {
        let bus = makeBus(MemoryStore())
        _ = try await Self.create(bus, try Self.configuration("events", ["events/#"], partitions: 4))
        let keyed = try await Self.publish(bus, "events/a", "k", key: "user-42", loop: loops[0])
        #expect(keyed.first?.partition == KafkaPartitioner.partition(forKey: Array("user-42".utf8), count: 4))
        var bySubject: [Int] = []
        for i in 0..<3 {
            bySubject += try await Self.publish(bus, "events/b", "\(i)", loop: loops[i % 2]).map(\.partition)
        }
        let expected = KafkaPartitioner.partition(forKey: Array("events/b".utf8), count: 4)
        #expect(bySubject == [expected, expected, expected])
        let explicit = try await Self.publish(bus, "events/b", "p", partition: 3, stream: "events", loop: loops[0])
        #expect(explicit.first?.partition == 3 && explicit.first?.outcome == .stored)
        let outOfRange = try await Self.publish(bus, "events/b", "p", partition: 9, stream: "events", loop: loops[0])
        #expect(outOfRange.first?.outcome == .refused("no partition 9"))
    }

    /// Whether the store holds a batch within ten seconds (a starved task can take that long to reach it);
    /// required before a release, which lets go only what is held.
    static func held(_ store: GatedStore) async -> Bool {
        for _ in 0..<5 where await eventually({ store.heldCount == 1 }) { return true }
        return false
    }

    @Test func anAppendIsAcknowledgedAndReadableOnlyOnceStored() async throws {
        let store = GatedStore()
        let bus = makeBus(store)
        let created = try await withCheckedThrowingContinuation { continuation in
            bus.streams.create(try! Self.configuration("ledger", ["ledger/#"])) { continuation.resume(with: $0) }
            store.release()
        }
        #expect(created.partitions.count == 1)
        let acked = NIOLockedValueBox<[StreamAppendAck]?>(nil)
        let topic = try Topic("ledger/1")
        try await loops[0].submit {
            bus.publishToStreams(
                BusMessage(topic: topic, payload: ByteBuffer(string: "x"), timestamp: bus.clock()), placement: nil,
                on: self.loops[0]
            ).whenSuccess { _, acks in acked.withLockedValue { $0 = acks } }
        }.get()
        try #require(await Self.held(store))
        try await Task.sleep(for: .milliseconds(50))
        #expect(acked.withLockedValue { $0 } == nil)
        #expect(try bus.streams.read("ledger", partition: 0, from: 0).records.isEmpty)
        store.release()
        #expect(await eventually { acked.withLockedValue { $0 } != nil })
        #expect(acked.withLockedValue { $0 }?.map(\.offset) == [1])
        #expect(Self.texts(try bus.streams.read("ledger", partition: 0, from: 0)) == ["x"])

        // A failed commit refuses the append and leaves a hole: the next one still gets a new offset.
        let failed = NIOLockedValueBox<[StreamAppendAck]?>(nil)
        try await loops[1].submit {
            bus.publishToStreams(
                BusMessage(topic: topic, payload: ByteBuffer(string: "y"), timestamp: bus.clock()), placement: nil,
                on: self.loops[1]
            ).whenSuccess { _, acks in failed.withLockedValue { $0 = acks } }
        }.get()
        try #require(await Self.held(store))
        store.release(failing: true)
        #expect(await eventually { failed.withLockedValue { $0 } != nil })
        guard case .refused = failed.withLockedValue({ $0 })?.first?.outcome else {
            Issue.record("a failed store must refuse the append")
            return
        }
        let next = Task { try await Self.publish(bus, "ledger/1", "z", loop: loops[0]) }
        // Released once the append has reached the store: a release before it lets nothing go, and the
        // publish then waits forever (a full suite's run starved the task past a fixed 50 ms and hung).
        try #require(await Self.held(store))
        store.release()
        #expect(try await next.value.map(\.offset) == [3])
        #expect(try bus.streams.read("ledger", partition: 0, from: 0).records.map(\.offset) == [1, 3])
    }

    /// A batch publish (Kafka REST's produce) is one acknowledgement: answered once every record is stored,
    /// each message with its own answers in order, after a single publish made before it on the loop.
    @Test func aBatchIsAnsweredOnceWhollyStoredWithEachMessagesAnswers() async throws {
        let store = GatedStore()
        let bus = makeBus(store)
        _ = try await withCheckedThrowingContinuation { continuation in
            bus.streams.create(try! Self.configuration("batch", ["batch/#"], partitions: 2)) {
                continuation.resume(with: $0)
            }
            store.release()
        }
        let answers = NIOLockedValueBox<[String]>([])
        let topic = try Topic("batch/a")
        let uncaptured = try Topic("other/a")
        try await loops[0].submit {
            let shard = bus.shard(for: self.loops[0])
            shard.publish(
                BusMessage(topic: topic, payload: ByteBuffer(string: "single"), timestamp: bus.clock()),
                placement: StreamPlacement(key: nil, partition: 1, stream: nil)
            ) { acks in answers.withLockedValue { $0.append("single " + acks.map(\.description).joined()) } }
            let messages = ["p0", "p1", "none", "bad"].map {
                BusMessage(topic: $0 == "none" ? uncaptured : topic, payload: ByteBuffer(string: $0), timestamp: 0)
            }
            let placements: [StreamPlacement?] = [
                StreamPlacement(key: nil, partition: 0, stream: "batch"),
                StreamPlacement(key: nil, partition: 1, stream: "batch"), nil,
                StreamPlacement(key: nil, partition: 7, stream: "batch"),
            ]
            shard.publish(messages, placements: placements) { batch in
                answers.withLockedValue {
                    $0.append("batch " + batch.map { $0.map(\.description).joined() }.joined(separator: ","))
                }
            }
        }.get()
        try await Task.sleep(for: .milliseconds(50))
        #expect(answers.withLockedValue { $0 }.isEmpty)
        #expect(try bus.streams.read("batch", partition: 0, from: 0).records.isEmpty)
        // Released until both answers are in (one batch per partition; a starved loop can take a while).
        #expect(
            await eventually {
                store.release()
                return answers.withLockedValue { $0 }.count == 2
            })
        #expect(
            answers.withLockedValue { $0 } == [
                "single batch[1]@1", "batch batch[0]@1,batch[1]@2,,batch[7] refused: no partition 7",
            ])
        #expect(Self.texts(try bus.streams.read("batch", partition: 0, from: 0)) == ["p0"])
        #expect(Self.texts(try bus.streams.read("batch", partition: 1, from: 0)) == ["single", "p1"])
    }

    @Test func limitsReadsByBytesTimeAndFromTheEnd() async throws {
        let now = NIOLockedValueBox<UInt64>(1_000_000_000)
        let bus = makeBus(MemoryStore(), clock: { now.withLockedValue { $0 } })
        _ = try await Self.create(
            bus, try Self.configuration("log", ["log/#"], limits: StreamLimits(maxMessages: 3, maxMessageSize: 10)))
        for i in 1...5 {
            now.withLockedValue { $0 = UInt64(i) * 1_000_000_000 }
            _ = try await Self.publish(bus, "log/a", "m\(i)", loop: loops[0])
        }
        let tooLarge = try await Self.publish(bus, "log/a", String(repeating: "x", count: 11), loop: loops[0])
        #expect(tooLarge.first?.outcome == .refused("message_too_large"))
        #expect(Self.texts(try bus.streams.read("log", partition: 0, from: 0)) == ["m3", "m4", "m5"])
        #expect(Self.texts(try bus.streams.read("log", partition: 0, from: 4, maxBytes: 1)) == ["m4"])
        #expect(try bus.streams.offset("log", partition: 0, atOrAfter: 4_000_000_000) == 4)
        #expect(try bus.streams.offset("log", partition: 0, atOrAfter: 9_000_000_000) == nil)
        #expect(Self.texts(try bus.streams.readLast("log", partition: 0, count: 2)) == ["m4", "m5"])
        #expect(throws: BusError.noPartition(stream: "log", partition: 1)) {
            try bus.streams.read("log", partition: 1, from: 0)
        }
    }

    @Test func consumerGroupOffsetsAreStoredAndComeBack() async throws {
        let store = MemoryStore()
        var bus = makeBus(store)
        _ = try await Self.create(bus, try Self.configuration("jobs", ["jobs/#"], partitions: 2))
        let committed = try await withCheckedThrowingContinuation { continuation in
            bus.streams.commit(group: "workers", stream: "jobs", partition: 1, offset: 7) {
                continuation.resume(with: $0)
            }
        }
        #expect(committed.offset == 7 && committed.isCurrent)
        #expect(try bus.streams.committed(group: "workers", stream: "jobs", partition: 0) == nil)

        bus = makeBus(store)
        let state = try store.load()
        _ = bus.streams.restore(state.streams, offsets: state.streamConsumerOffsets)
        let back = try bus.streams.committed(group: "workers", stream: "jobs", partition: 1)
        #expect(back?.offset == 7 && back?.isCurrent == true && back?.epoch == committed.epoch)
    }

    @Test func aRestartKeepsStreamsEpochsOffsetsAndLimits() async throws {
        let store = MemoryStore()
        var bus = makeBus(store)
        let created = try await Self.create(
            bus, try Self.configuration("orders", ["orders/#"], limits: StreamLimits(maxMessages: 3)))
        _ = try await Self.create(bus, try Self.configuration("scratch", ["scratch/#"], storage: .memory))
        for i in 1...5 { _ = try await Self.publish(bus, "orders/x", "m\(i)", loop: loops[i % 2]) }
        _ = try await Self.publish(bus, "scratch/x", "lost", loop: loops[0])

        bus = makeBus(store)
        let state = try store.load()
        let restored = bus.streams.restore(state.streams, offsets: state.streamConsumerOffsets)
        #expect(restored.streams == 2 && restored.messages == 3 && restored.newEpochs == 1)
        let read = try bus.streams.read("orders", partition: 0, from: 0)
        #expect(Self.texts(read) == ["m3", "m4", "m5"])
        #expect(read.partition.epoch == created.partitions[0].epoch)
        #expect(try await Self.publish(bus, "orders/x", "m6", loop: loops[0]).map(\.offset) == [6])
        #expect(Self.texts(try bus.streams.read("orders", partition: 0, from: 0)) == ["m4", "m5", "m6"])
        let scratch = try bus.streams.read("scratch", partition: 0, from: 0)
        #expect(scratch.records.isEmpty && scratch.partition.epoch != "")
    }

    @Test func updatePurgeAndDelete() async throws {
        let store = MemoryStore()
        let bus = makeBus(store)
        _ = try await Self.create(bus, try Self.configuration("t", ["t/#"]))
        for i in 1...6 { _ = try await Self.publish(bus, i % 2 == 0 ? "t/even" : "t/odd", "\(i)", loop: loops[0]) }
        let updated = try await withCheckedThrowingContinuation { continuation in
            bus.streams.update("t", limits: StreamLimits(maxMessages: 4)) { continuation.resume(with: $0) }
        }
        #expect(updated.messages == 4 && updated.partitions[0].firstOffset == 3)
        let purged = try await withCheckedThrowingContinuation { continuation in
            bus.streams.purge("t", subject: try! TopicFilter("t/odd")) { continuation.resume(with: $0) }
        }
        #expect(purged == 2)
        #expect(Self.texts(try bus.streams.read("t", partition: 0, from: 0)) == ["4", "6"])
        let stored = try #require(try store.load().streams.first)
        #expect(stored.partitions[0].messages.map(\.offset) == [4, 6] && stored.partitions[0].lastOffset == 6)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            bus.streams.delete("t") { continuation.resume(with: $0.mapError { $0 as any Error }) }
        }
        #expect(try store.load().streams.isEmpty)
    }

    @Test func invalidDefinitionsAreRefused() async throws {
        let bus = makeBus(nil)
        for configuration in [
            try Self.configuration("bad name", ["a/#"]), try Self.configuration("ok", ["a/#"], partitions: 0),
            try Self.configuration("shared", ["$share/g/a"]),
        ] {
            await #expect(throws: BusError.self) { _ = try await Self.create(bus, configuration) }
        }
        _ = try await Self.create(bus, try Self.configuration("once", ["a/#"]))
        await #expect(throws: BusError.streamExists("once")) {
            _ = try await Self.create(bus, try Self.configuration("once", ["b/#"]))
        }
    }
}

extension BusStreamTests {
    /// A stream keeping one record per subject (a KV bucket) keeps one row per subject in the store, and
    /// a restart keeps the newest of each.
    @Test func perSubjectLimitsReachTheStore() async throws {
        let store = MemoryStore()
        var bus = makeBus(store)
        _ = try await Self.create(
            bus, try Self.configuration("kv", ["kv/#"], limits: StreamLimits(maxMessagesPerSubject: 1)))
        for (subject, value) in [("kv/a", "1"), ("kv/b", "2"), ("kv/a", "3"), ("kv/a", "4"), ("kv/b", "5")] {
            _ = try await Self.publish(bus, subject, value, loop: loops[0])
        }
        #expect(Self.texts(try bus.streams.read("kv", partition: 0, from: 0)) == ["4", "5"])
        #expect(try store.load().streams[0].partitions[0].messages.map(\.offset) == [4, 5])

        bus = makeBus(store)
        let state = try store.load()
        _ = bus.streams.restore(state.streams, offsets: state.streamConsumerOffsets)
        let read = try bus.streams.read("kv", partition: 0, from: 0)
        #expect(Self.texts(read) == ["4", "5"] && read.partition.lastOffset == 5)

        // Rows a replay drops (written before the limit, or left by a crash) leave the store on restart.
        let other = MemoryStore()
        let rows: [StoreWrite] = try [(1, "kv/b"), (2, "kv/a"), (3, "kv/a")].map { offset, subject in
            .appendStream(
                StoredStreamMessage(
                    stream: "kv", partition: 0, offset: UInt64(offset), key: nil,
                    message: BusMessage(
                        topic: try Topic(subject), payload: ByteBuffer(string: "\(offset)"), timestamp: UInt64(offset)))
            )
        }
        other.submit(
            [
                .saveStream(try Self.configuration("kv", ["kv/#"], limits: StreamLimits(maxMessagesPerSubject: 1))),
                .saveStreamPartition(stream: "kv", partition: 0, epoch: "e", lastOffset: 0),
            ] + rows)
        bus = makeBus(other)
        let stored = try other.load()
        _ = bus.streams.restore(stored.streams, offsets: [])
        #expect(Self.texts(try bus.streams.read("kv", partition: 0, from: 0)) == ["1", "3"])
        #expect(try other.load().streams[0].partitions[0].messages.map(\.offset) == [1, 3])
    }
}

extension BusStreamTests {
    /// A long poll: answered at once when a record is readable, when one becomes readable (a `file`
    /// stream's once stored), or with false at its timeout.
    @Test func readersWaitForRecords() async throws {
        let store = GatedStore()
        let bus = makeBus(store)
        let created = Task { try await Self.create(bus, try Self.configuration("w", ["w/#"])) }
        try #require(await Self.held(store))
        store.release()
        _ = try await created.value

        let loop = loops[0]
        let timedOut = try await bus.streams.waitForRecords(
            "w", partition: 0, from: 1, timeout: .milliseconds(30), on: loop
        ).get()
        #expect(timedOut == false)

        let waiting = bus.streams.waitForRecords("w", partition: 0, from: 1, timeout: .seconds(10), on: loop)
        let published = Task { try await Self.publish(bus, "w/a", "x", loop: loop) }
        try #require(await Self.held(store))  // appended, held by the store (as above)
        let early = NIOLockedValueBox(false)
        waiting.whenSuccess { _ in early.withLockedValue { $0 = true } }
        try await Task.sleep(for: .milliseconds(20))
        #expect(early.withLockedValue { $0 } == false)  // appended, not yet stored: not readable
        store.release()
        #expect(try await waiting.get() == true)
        #expect(try await published.value.map(\.offset) == [1])

        #expect(try await bus.streams.waitForRecords("w", partition: 0, from: 1, timeout: .seconds(1), on: loop).get())
        await #expect(throws: BusError.noPartition(stream: "w", partition: 3)) {
            try await bus.streams.waitForRecords("w", partition: 3, from: 1, timeout: .seconds(1), on: loop).get()
        }
    }
}
