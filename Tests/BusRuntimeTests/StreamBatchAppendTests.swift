import BusCore
import NIOCore
import NIOPosix
import Storage
import Testing

@testable import BusRuntime

/// The batch append (`StreamRegistry.prepareAppends(batch:streams:placements:)`, Kafka REST's produce) gives
/// every record the answer, offset, limit, duplicate and refusal that appending the messages one by one
/// gives, and the store the same writes: seeded walks run both on two identical registries and compare.
@Suite struct StreamBatchAppendTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Streams that exercise every per-record rule at once: partitions by key and by given partition, a
    /// count limit and a per-subject limit (drops in the middle), discard new by count and by bytes, a
    /// duplicate window, a memory stream beside the file ones.
    static let configurations: [StreamConfiguration] = [
        StreamConfiguration(
            name: "a", filters: [try! TopicFilter("t/#")], partitions: 3,
            limits: StreamLimits(
                maxMessages: 12, maxMessageSize: 40, maxMessagesPerSubject: 3,
                duplicateWindowNanoseconds: 5_000)),
        StreamConfiguration(
            name: "b", filters: [try! TopicFilter("t/x/#")], partitions: 1,
            limits: StreamLimits(maxMessages: 15, maxBytes: 200, discard: .new)),
        StreamConfiguration(
            name: "n", filters: [try! TopicFilter("u/#")], partitions: 2,
            limits: StreamLimits(maxMessagesPerSubject: 2, discard: .newPerSubject)),
        StreamConfiguration(
            name: "m", filters: [try! TopicFilter("t/#")], partitions: 1, limits: StreamLimits(maxMessages: 7),
            storage: .memory),
    ]

    func makeRegistry() async throws -> Bus {
        let bus = Bus(eventLoops: Array(group.makeIterator()), store: MemoryStore(), clock: { 0 })
        for configuration in Self.configurations {
            _ = try await withCheckedThrowingContinuation { continuation in
                bus.streams.create(configuration) { continuation.resume(with: $0) }
            }
        }
        return bus
    }

    /// A deterministic generator (the walks must repeat exactly when one fails).
    struct Seeded {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    static func describe(_ write: StoreWrite) -> String {
        switch write {
        case .appendStream(let stored):
            return "append \(stored.stream)[\(stored.partition)]@\(stored.offset) \(stored.message.topic.name) "
                + "\(String(buffer: stored.message.payload)) \(stored.key ?? [])"
        case .deleteStreamMessages(let stream, let partition, let offsets):
            return "delete \(stream)[\(partition)] \(offsets)"
        case .trimStream(let stream, let partition, let before):
            return "trim \(stream)[\(partition)] < \(before)"
        default:
            return "other"
        }
    }

    @Test(arguments: 1...12) func aBatchAppendsAsOneByOne(seed: UInt64) async throws {
        let single = try await makeRegistry()
        let batched = try await makeRegistry()
        var random = Seeded(state: seed)
        let subjects = ["t/a", "t/b", "t/x/1", "t/x/2", "u/1", "u/2", "v/none"]
        var time: UInt64 = 1_000
        // What the walk reached, so it cannot pass by never meeting a rule.
        var seen: Set<String> = []
        for round in 0..<40 {
            var messages: [BusMessage] = []
            var placements: [StreamPlacement?] = []
            for item in 0..<(1 + random.next(30)) {
                time += UInt64(random.next(3) * 400)
                let topic = try Topic(subjects[random.next(subjects.count)])
                let size = [1, 5, 20, 45][random.next(4)]
                let payload = ByteBuffer(string: "\(round).\(item)" + String(repeating: "p", count: size))
                messages.append(BusMessage(topic: topic, payload: payload, timestamp: time))
                var placement: StreamPlacement? = StreamPlacement()
                switch random.next(8) {
                case 0: placement = nil
                case 1: placement?.key = Array("k\(random.next(5))".utf8)
                case 2: placement?.partition = random.next(4)  // 3 is out of range for "a"
                case 3: placement?.stream = ["a", "b", "nope"][random.next(3)]
                case 4: placement?.messageID = "id\(random.next(6))"
                case 5:
                    placement?.stream = "a"
                    placement?.partition = random.next(3)
                    placement?.offset = UInt64(1 + random.next(200))
                case 6:
                    placement?.stream = "b"
                    placement?.messageID = "id\(random.next(6))"
                default:
                    placement?.key = Array("k\(random.next(5))".utf8)
                    placement?.stream = "a"
                }
                placements.append(placement)
            }
            var expectedAcks: [StreamAppendAck] = []
            var expectedCounts: [Int] = []
            var sequential: [StreamRegistry.PreparedAppend] = []
            for (index, message) in messages.enumerated() {
                let prepared = single.streams.prepareAppends(
                    message, streams: single.streams.matching(message.topic), placement: placements[index])
                expectedAcks += prepared.map(\.ack)
                expectedCounts.append(prepared.count)
                sequential += prepared
            }
            let boxes: [[StreamBox]?] = messages.map { batched.streams.matching($0.topic) }
            let batch = batched.streams.prepareAppends(batch: messages, streams: boxes, placements: placements)
            #expect(batch.acks.map(Self.normalized) == expectedAcks.map(Self.normalized), "seed \(seed) round \(round)")
            #expect(batch.counts == expectedCounts, "seed \(seed) round \(round)")
            let expectedWrites = StreamRegistry.writes(for: sequential).map(Self.describe)
            var collector = StreamWriteCollector()
            for pending in batch.pending { collector.add(pending) }
            let writes = collector.finish().map(Self.describe)
            // Each partition's appends in offset order (the batch groups them by partition, so partitions
            // interleave differently); drops and trims are per partition (a dictionary's order).
            #expect(Self.byPartition(writes) == Self.byPartition(expectedWrites), "seed \(seed) round \(round)")
            #expect(Set(writes) == Set(expectedWrites), "seed \(seed) round \(round)")
            for write in writes { seen.insert(String(write.prefix { $0 != " " })) }
            for ack in expectedAcks {
                switch ack.outcome {
                case .stored: seen.insert("stored")
                case .duplicate: seen.insert("duplicate")
                case .refused(let reason): seen.insert(reason.hasPrefix("no stream") ? "no stream" : reason)
                }
            }
            // Half the rounds fail in the store: the records go from both, leaving the same holes.
            let failure: (any Error)? = random.next(2) == 0 ? StoreError("disk full") : nil
            let finished = StreamRegistry.finish(sequential, failure: failure)
            var acks = batch.acks
            for pending in batch.pending {
                if let reason = StreamRegistry.finish(pending, failure: failure) {
                    for slot in pending.slots { acks[slot].outcome = .refused(reason) }
                }
            }
            // `finish` answers the prepared appends in order: the flat answers' order.
            #expect(acks.map(Self.normalized) == finished.map(Self.normalized), "seed \(seed) round \(round)")
            for configuration in Self.configurations {
                for partition in 0..<configuration.partitions {
                    let one = try single.streams.read(configuration.name, partition: partition, from: 0)
                    let other = try batched.streams.read(configuration.name, partition: partition, from: 0)
                    #expect(
                        Self.describe(one.partition) == Self.describe(other.partition), "seed \(seed) round \(round)")
                    #expect(
                        one.records.map { "\($0.offset) \(String(buffer: $0.record.message.payload))" }
                            == other.records.map { "\($0.offset) \(String(buffer: $0.record.message.payload))" },
                        "seed \(seed) round \(round) \(configuration.name)[\(partition)]")
                }
            }
        }
        #expect(
            seen.isSuperset(of: [
                "stored", "duplicate", "append", "delete", "trim", "no stream", "no partition 3", "message_too_large",
                "max_bytes", "max_messages_per_subject",
            ]), "seed \(seed): \(seen.sorted())")
        try await group.shutdownGracefully()
    }

    /// The appends of each partition, in order.
    static func byPartition(_ writes: [String]) -> [String: [String]] {
        var appends: [String: [String]] = [:]
        for write in writes where write.hasPrefix("append") {
            appends[String(write.split(separator: "@")[0]), default: []].append(write)
        }
        return appends
    }

    /// An answer without its epoch (each registry's streams have their own).
    static func normalized(_ ack: StreamAppendAck) -> String {
        "\(ack) offset \(ack.offset) \(ack.epoch.isEmpty ? "no epoch" : "epoch")"
    }

    static func describe(_ info: StreamPartitionInfo) -> String {
        "\(info.firstOffset)...\(info.lastOffset) \(info.messages) \(info.bytes) \(info.recordBytes) \(info.appends)"
    }
}
