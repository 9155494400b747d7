import BusCore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storage
import SwitchboardTestSupport
import Testing

@testable import BusRuntime

/// A `file` stream keeps its newest records' bodies in memory (its memory tail) and every record's index
/// entry: reads below the tail come from the store and equal what a stream keeping everything gives, the
/// index hides what the limits, deletes and purges removed before the store has removed it, and a restart
/// keeps the tail bounded. Run on the memory store and on SQLite.
@Suite struct StreamMemoryTailTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory, sqlite
        var testDescription: String { rawValue }
    }

    /// A store of `kind`, and its file (removed at the end of the test).
    final class Stores: @unchecked Sendable {
        let kind: Kind
        let path = NSTemporaryDirectory() + "tail-\(UUID().uuidString).sqlite"
        private(set) var store: any Store

        init(_ kind: Kind) throws {
            self.kind = kind
            store = kind == .memory ? MemoryStore() : try SQLiteStore(path: path, durability: .noFsync)
        }

        /// The store as after a restart (the memory store: the same instance).
        func restarted() throws -> any Store {
            guard kind == .sqlite else { return store }
            store.close()
            store = try SQLiteStore(path: path, durability: .noFsync)
            return store
        }

        deinit {
            store.close()
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
    }

    static func configuration(_ name: String, tail: StreamMemoryTail, limits: StreamLimits = StreamLimits())
        throws -> StreamConfiguration
    {
        StreamConfiguration(name: name, filters: [try TopicFilter("t/#")], limits: limits, memoryTail: tail)
    }

    static func create(_ bus: Bus, _ configuration: StreamConfiguration) async throws {
        _ = try await withCheckedThrowingContinuation { continuation in
            bus.streams.create(configuration) { continuation.resume(with: $0) }
        }
    }

    /// Appends `messages` (each to every stream capturing it), all submitted at once, and waits until every
    /// one is stored.
    static func append(_ bus: Bus, _ messages: [(BusMessage, StreamPlacement?)]) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let left = NIOLockedValueBox(messages.count)
            guard !messages.isEmpty else { return continuation.resume() }
            for (message, placement) in messages {
                bus.streams.append(message, placement: placement) { _ in
                    if left.withLockedValue({
                        $0 -= 1; return $0
                    }) == 0 {
                        continuation.resume()
                    }
                }
            }
        }
    }

    /// The `count` messages of a walk: ten subjects, payloads of 10 to 300 bytes, some keyed, some with
    /// headers.
    static func messages(_ count: Int, from first: Int = 0) throws -> [(BusMessage, StreamPlacement?)] {
        try (first..<first + count).map { index in
            var headers = MessageHeaders()
            if index % 7 == 0 { headers.userProperties = [UserProperty(name: "n", value: "\(index)")] }
            if index % 5 == 0 { headers.contentType = "text/plain" }
            let message = BusMessage(
                topic: try Topic("t/\(index % 10)"),
                payload: ByteBuffer(string: String(repeating: "x", count: 10 + (index * 37) % 290) + "\(index)"),
                headers: headers, timestamp: 1_000_000 + UInt64(index))
            return (message, index % 3 == 0 ? StreamPlacement(key: Array("k\(index)".utf8)) : nil)
        }
    }

    /// What a read gives, as comparable text: offset, time, subject, key, headers and payload of each.
    static func describe(_ result: StreamReadResult) -> [String] {
        result.records.map { record in
            let message = record.record.message
            let key = record.record.key.map { String(decoding: $0, as: UTF8.self) } ?? "-"
            let properties = message.headers.userProperties.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
            return "\(record.offset) \(record.time) \(message.topic.name) \(key) \(message.headers.contentType ?? "-") "
                + "\(properties) \(String(buffer: message.payload))"
        }
    }

    func read(
        _ bus: Bus, _ name: String, from offset: UInt64, limit: Int = .max, maxBytes: Int = .max
    ) async throws -> StreamReadResult {
        try await bus.streams.read(name, partition: 0, from: offset, limit: limit, maxBytes: maxBytes, on: loops[0])
            .get()
    }

    /// 10,000 records through a tail of 1 KiB: every read from offset 1 on — whole, by count, by bytes, in
    /// batches to the end — equals the same read of a stream that keeps every record in memory, on a loop
    /// (the future) and off it (waiting); the tail holds about 1 KiB.
    @Test(arguments: Kind.allCases) func readsBelowTheTailEqualAWholeStreamsReads(kind: Kind) async throws {
        let stores = try Stores(kind)
        let bus = Bus(eventLoops: loops, store: stores.store)
        try await Self.create(bus, try Self.configuration("tail", tail: .bytes(1024)))
        try await Self.create(bus, try Self.configuration("whole", tail: .all))
        let all = try Self.messages(10_000)
        for start in stride(from: 0, to: all.count, by: 500) { await Self.append(bus, Array(all[start..<start + 500])) }

        let tail = try #require(bus.streams.stream(named: "tail")?.info.partitions.first)
        #expect(tail.lastOffset == 10_000 && tail.messages == 10_000)
        #expect(tail.memoryBytes <= 1024 + 400, "the tail keeps about its bound: \(tail.memoryBytes)")
        let whole = try #require(bus.streams.stream(named: "whole")?.info.partitions.first)
        #expect(whole.memoryBytes == whole.recordBytes && tail.recordBytes == whole.recordBytes)
        #expect(
            bus.streams.stream(named: "tail")?.partitions[0].readNow(from: 1, limit: 10, maxBytes: .max, now: 0) == nil)

        for (from, limit, maxBytes) in [
            (0, Int.max, Int.max), (1, 100, Int.max), (2, 1000, 4096), (4_999, 7, Int.max), (9_990, Int.max, 1),
            (10_000, 5, Int.max), (10_001, 5, Int.max),
        ] as [(UInt64, Int, Int)] {
            let expected = Self.describe(try await read(bus, "whole", from: from, limit: limit, maxBytes: maxBytes))
            #expect(!expected.isEmpty || from > 10_000)
            #expect(
                Self.describe(try await read(bus, "tail", from: from, limit: limit, maxBytes: maxBytes)) == expected)
            let waited = try bus.streams.read("tail", partition: 0, from: from, limit: limit, maxBytes: maxBytes)
            #expect(Self.describe(waited) == expected)
        }
        var from: UInt64 = 1
        var batches = 0
        while true {
            let expected = try await read(bus, "whole", from: from, limit: 256, maxBytes: 32_768)
            #expect(
                Self.describe(try await read(bus, "tail", from: from, limit: 256, maxBytes: 32_768))
                    == Self.describe(expected))
            guard let last = expected.records.last else { break }
            from = last.offset + 1
            batches += 1
        }
        #expect(from == 10_001 && batches > 40)
        // The last N, the index reads and the scan read the same way.
        #expect(
            Self.describe(try await bus.streams.readLast("tail", partition: 0, count: 50, on: loops[1]).get())
                == Self.describe(try await bus.streams.readLast("whole", partition: 0, count: 50, on: loops[1]).get()))
        #expect(
            try bus.streams.readIndex("tail", partition: 0, from: 1).records.map(\.recordBytes)
                == bus.streams.readIndex("whole", partition: 0, from: 1).records.map(\.recordBytes))
        let scanned = try await bus.streams.scan("tail", partition: 0, from: 1, batch: 999, into: 0, on: loops[0]) {
            count, records in
            count += records.count
            return true
        }.get()
        #expect(scanned == 10_000)
        #expect(try bus.streams.newest("tail", partition: 0)?.offset == 10_000)
    }

    /// A per-subject limit and a purge by subject remove records whose bodies are only in the store: a
    /// read below the tail does not show them, even while the store has not removed them yet (its batch
    /// is held), and after it has.
    @Test func limitsAndPurgesBelowTheTailHideWhatTheyRemoved() async throws {
        let store = GatedStore()
        let bus = Bus(eventLoops: loops, store: store)
        let creating = Task {
            try await Self.create(
                bus, try Self.configuration("kv", tail: .bytes(64), limits: StreamLimits(maxMessagesPerSubject: 1)))
        }
        #expect(await eventually { store.heldCount == 1 })
        store.release()
        try await creating.value
        // Records of about 50 bytes: a tail of 64 keeps the newest one.
        let padding = String(repeating: ".", count: 44)
        func put(_ subject: String, _ value: String, release: Bool = true) async throws {
            let message = BusMessage(
                topic: try Topic(subject), payload: ByteBuffer(string: value + padding), timestamp: 1)
            let appending = Task { await Self.append(bus, [(message, nil)]) }
            if release {
                #expect(await eventually { store.heldCount > 0 })
                store.release()
                await appending.value
            }
        }
        try await put("t/a", "a1")
        try await put("t/b", "b1")
        for index in 1...20 { try await put("t/c\(index % 4)", "c\(index)") }
        func texts() async throws -> [String] {
            try await read(bus, "kv", from: 0).records.map {
                String(String(buffer: $0.record.message.payload).prefix { $0 != "." })
            }
        }
        #expect(try await texts() == ["a1", "b1", "c17", "c18", "c19", "c20"])
        #expect(bus.streams.stream(named: "kv")!.info.partitions[0].memoryBytes < 64)

        // a2 drops a1 from the index; the store's delete (and a2 itself) wait in a held batch.
        try await put("t/a", "a2", release: false)
        #expect(await eventually { store.heldCount == 1 })
        #expect(try await texts() == ["b1", "c17", "c18", "c19", "c20"])
        // A purge by subject below the tail: gone from reads before the store has it.
        let purging = Task {
            try await withCheckedThrowingContinuation { continuation in
                bus.streams.purge("kv", subject: try! TopicFilter("t/b")) { continuation.resume(with: $0) }
            }
        }
        #expect(await eventually { store.heldCount == 2 })
        #expect(try await texts() == ["c17", "c18", "c19", "c20"])
        store.release()
        #expect(try await purging.value == 1)
        for _ in 0..<200 where try await texts() != ["c17", "c18", "c19", "c20", "a2"] {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        #expect(try await texts() == ["c17", "c18", "c19", "c20", "a2"])
        let stored = try store.load().streams[0].partitions[0].messages.map {
            String(String(buffer: $0.message.payload).prefix { $0 != "." })
        }
        #expect(stored == ["c17", "c18", "c19", "c20", "a2"])
    }

    /// After a restart a partition keeps only its tail's bodies (the restore lets the older ones go) and
    /// reads the rest from the store, as before the restart.
    @Test(arguments: Kind.allCases) func aRestartKeepsTheTailBounded(kind: Kind) async throws {
        let stores = try Stores(kind)
        var bus = Bus(eventLoops: loops, store: stores.store)
        try await Self.create(bus, try Self.configuration("tail", tail: .bytes(16_384)))
        let payload = String(repeating: "p", count: 1024)
        let messages = try (0..<5_000).map { index in
            (
                BusMessage(
                    topic: try Topic("t/\(index % 3)"), payload: ByteBuffer(string: payload + "\(index)"),
                    timestamp: 1_000 + UInt64(index)), StreamPlacement?.none
            )
        }
        for start in stride(from: 0, to: messages.count, by: 500) {
            await Self.append(bus, Array(messages[start..<start + 500]))
        }
        let before = Self.describe(try await read(bus, "tail", from: 1))

        #expect(before.count == 5_000)
        // Loaded whole (as `migrate-store` does), or as the index alone (as the server does): the bodies
        // of the tail come back from the store.
        for bodies in [true, false] {
            bus = Bus(eventLoops: loops, store: try stores.restarted())
            let state = try stores.store.load(streamBodies: bodies)
            let stored = try #require(state.streams.first?.partitions.first)
            #expect(bodies ? stored.messages.count == 5_000 : stored.messages.isEmpty && stored.index.count == 5_000)
            let restored = bus.streams.restore(state.streams, offsets: [])
            #expect(restored.messages == 5_000)
            let partition = try #require(bus.streams.stream(named: "tail")?.info.partitions.first)
            #expect(partition.memoryBytes <= 16_384 && partition.memoryBytes > 8_000, "\(partition.memoryBytes)")
            let newest = bus.streams.stream(named: "tail")?.partitions[0].readNow(
                from: 4_990, limit: 11, maxBytes: .max, now: 0)
            #expect(newest.map(Self.describe) == Array(before.suffix(11)))
            #expect(Self.describe(try await read(bus, "tail", from: 1)) == before)
        }
    }

    /// A stream keeping every body (`.all`) restored from its index reads every body back at start.
    @Test(arguments: Kind.allCases) func aStreamKeepingEveryBodyGetsThemAllBack(kind: Kind) async throws {
        let stores = try Stores(kind)
        var bus = Bus(eventLoops: loops, store: stores.store)
        try await Self.create(bus, try Self.configuration("whole", tail: .all))
        await Self.append(bus, try Self.messages(6_000))
        let before = Self.describe(try await read(bus, "whole", from: 1))
        bus = Bus(eventLoops: loops, store: try stores.restarted())
        _ = bus.streams.restore(try stores.store.load(streamBodies: false).streams, offsets: [])
        let partition = try #require(bus.streams.stream(named: "whole")?.info.partitions.first)
        #expect(partition.memoryBytes == partition.recordBytes && partition.messages == 6_000)
        let now = bus.streams.stream(named: "whole")?.partitions[0].readNow(
            from: 1, limit: .max, maxBytes: .max, now: 0)
        #expect(now.map(Self.describe) == before)
    }
}
