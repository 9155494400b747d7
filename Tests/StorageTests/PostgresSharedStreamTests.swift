import BusCore
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import Storage

/// Streams among stores sharing one database (docs/storage.md, "Several instances"): every stream write
/// announces its stream once per commit, a stream is read fresh after the offset an instance has, and the
/// listeners are told when the listening connection is back after it was lost.
@Suite(.postgresServer) struct PostgresSharedStreamTests {
    static func loadStream(_ store: PostgresStore, _ name: String, after: [UInt64], epochs: [String], kept: Bool)
        async throws -> StoredStreamChange?
    {
        try await withCheckedThrowingContinuation { continuation in
            store.sessionOwnership!.loadStream(name, after: after, epochs: epochs, kept: kept) {
                continuation.resume(with: $0)
            }
        }
    }

    static func waitFor(_ condition: () -> Bool) async throws {
        let deadline = NIODeadline.now() + .seconds(5)
        while !condition() && NIODeadline.now() < deadline { try await Task.sleep(for: .milliseconds(20)) }
    }

    @Test func streamWritesAreAnnouncedOncePerStreamAndCommitWithTheWritersSlot() async throws {
        try await withTwoInstances { a, b, _, _ in
            let heard = NIOLockedValueBox<[String]>([])
            b.sessionOwnership!.listen(StoreOwnedResource.streamChannel) { payload in
                heard.withLockedValue { $0.append(payload) }
            }
            let slot = a.sessionOwnership!.instanceSlot
            let configuration = try StoreTests.streamConfiguration("orders", partitions: 1)
            #expect(
                await PostgresStoreTests.write(
                    a,
                    [
                        .saveStream(configuration),
                        .saveStreamPartition(stream: "orders", partition: 0, epoch: "e1", lastOffset: 0),
                    ]
                ) == nil)
            try await Self.waitFor { heard.withLockedValue { $0.count } == 1 }
            #expect(heard.withLockedValue { $0 } == ["\(slot)\nc\norders"])
            // Appends and a trim: one notification, appends only.
            let appends: [StoreWrite] = [
                .appendStream(try StoreTests.streamMessage("orders", 0, 1)),
                .appendStream(try StoreTests.streamMessage("orders", 0, 2)),
                .trimStream(stream: "orders", partition: 0, before: 2),
            ]
            #expect(await PostgresStoreTests.write(a, appends) == nil)
            try await Self.waitFor { heard.withLockedValue { $0.count } == 2 }
            #expect(heard.withLockedValue { $0.last } == "\(slot)\na\norders")
            // A group offset is no change of the stream.
            #expect(
                await PostgresStoreTests.write(
                    a,
                    [
                        .saveStreamConsumerOffset(
                            StoredStreamConsumerOffset(
                                group: "g", stream: "orders", partition: 0, epoch: "e1", offset: 2)),
                        .deleteStream(name: "orders"),
                    ]) == nil)
            try await Self.waitFor { heard.withLockedValue { $0.count } == 3 }
            #expect(heard.withLockedValue { $0 }.count == 3)
            #expect(heard.withLockedValue { $0.last } == "\(slot)\nc\norders")
        }
    }

    @Test func aStreamIsReadFreshAfterTheOffsetAnInstanceHas() async throws {
        try await withTwoInstances { a, b, _, _ in
            let configuration = try StoreTests.streamConfiguration("orders", partitions: 2)
            var writes: [StoreWrite] = [.saveStream(configuration)]
            writes.append(.saveStreamPartition(stream: "orders", partition: 0, epoch: "e1", lastOffset: 0))
            writes.append(.saveStreamPartition(stream: "orders", partition: 1, epoch: "f1", lastOffset: 0))
            #expect(await PostgresStoreTests.write(a, writes) == nil)
            let keyed: [StoreWrite] = try (1...4).map {
                .appendStream(try StoreTests.streamMessage("orders", 0, $0, key: "k"))
            }
            #expect(await PostgresStoreTests.write(a, keyed) == nil)
            let fifth = StoreWrite.appendStream(try StoreTests.streamMessage("orders", 0, 5))
            #expect(await PostgresStoreTests.write(a, [fifth]) == nil)
            #expect(
                await PostgresStoreTests.write(
                    a,
                    [
                        .trimStream(stream: "orders", partition: 0, before: 2),
                        .deleteStreamMessages(stream: "orders", partition: 0, offsets: [3]),
                    ]) == nil)

            // Appends only: what follows offset 4, in the epoch b has.
            let appended = try #require(
                try await Self.loadStream(b, "orders", after: [4, 0], epochs: ["e1", "f1"], kept: false))
            #expect(appended.configuration == configuration)
            #expect(appended.partitions.count == 2)
            #expect(appended.partitions[0].records.map(\.offset) == [5])
            #expect(appended.partitions[0].records[0].message.payload == ByteBuffer(string: "m5"))
            #expect(appended.partitions[0].lastOffset == 5)
            #expect(appended.partitions[0].trimmedBefore == 2)
            #expect(appended.partitions[0].kept == nil)
            #expect(appended.partitions[1].records.isEmpty && appended.partitions[1].epoch == "f1")

            // With what is still stored at or below it: 1 is trimmed, 3 deleted.
            let kept = try #require(
                try await Self.loadStream(b, "orders", after: [4, 0], epochs: ["e1", "f1"], kept: true))
            #expect(kept.partitions[0].kept == [2, 4])
            #expect(kept.partitions[0].after == 4)
            #expect(kept.partitions[0].records.map(\.offset) == [5])
            #expect(kept.partitions[0].records.first?.key == nil)

            // Another epoch than the database's, or nothing known: every record.
            let whole = try #require(
                try await Self.loadStream(b, "orders", after: [4], epochs: ["old"], kept: false))
            #expect(whole.partitions[0].records.map(\.offset) == [2, 4, 5])
            #expect(whole.partitions[0].records.first?.key == Array("k".utf8))

            let names = try await withCheckedThrowingContinuation { continuation in
                b.sessionOwnership!.loadNames(.streams) { continuation.resume(with: $0) }
            }
            #expect(names == ["orders"])
            #expect(await PostgresStoreTests.write(a, [.deleteStream(name: "orders")]) == nil)
            let deleted = try await Self.loadStream(b, "orders", after: [], epochs: [], kept: true)
            #expect(deleted == nil)
        }
    }

    @Test func theListenersHearWhenTheListeningConnectionIsBack() async throws {
        try await withTwoInstances { a, _, server, configuration in
            let resumed = NIOLockedValueBox(0)
            a.sessionOwnership!.onListenResumed { resumed.withLockedValue { $0 += 1 } }
            let heard = NIOLockedValueBox<[String]>([])
            a.sessionOwnership!.listen("test_channel") { payload in heard.withLockedValue { $0.append(payload) } }
            try await Task.sleep(for: .milliseconds(200))
            #expect(resumed.withLockedValue { $0 } == 0)
            let slot = a.sessionOwnership!.instanceSlot
            try server.execute(
                """
                SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2
                AND classid = \(PostgresSessionOwnership.slotLockClass) AND objid = \(slot)
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """, database: configuration.database)
            // It reconnects a second later, listens again and says so.
            try await Self.waitFor { resumed.withLockedValue { $0 } == 1 }
            #expect(resumed.withLockedValue { $0 } == 1)
            #expect(await PostgresStoreTests.write(a, [.notify(channel: "test_channel", payload: "after")]) == nil)
            try await Self.waitFor { !heard.withLockedValue { $0 }.isEmpty }
            #expect(heard.withLockedValue { $0 } == ["after"])
        }
    }

    /// A stream partition's appends are fenced as a durable log's (`PostgresSharedHistoryTests
    /// .appendsOfAWriterFencedOutFailAndAreNotStored`): A's queued append after B claimed and fenced the
    /// partition fails, and the partition holds B's record at that offset; A's appends to another
    /// partition it never fenced still commit.
    @Test func streamAppendsOfAWriterFencedOutFail() async throws {
        try await withTwoInstances { a, b, _, _ in
            let configuration = try StoreTests.streamConfiguration("fenced", partitions: 2)
            let setup: [StoreWrite] =
                [.saveStream(configuration)]
                + (0..<2).map { .saveStreamPartition(stream: "fenced", partition: $0, epoch: "e1", lastOffset: 0) }
            #expect(await PostgresStoreTests.write(a, setup) == nil)
            let resource = StoreOwnedResource.name(kind: StoreOwnedResource.streamWriterKind, "fenced\u{0}1")
            #expect(
                StoreOwnedResource.writerResource(of: .appendStream(try StoreTests.streamMessage("fenced", 1, 1)))
                    == resource)
            #expect(await PostgresSessionOwnershipTests.claim(a, resource))
            #expect(await PostgresSharedHistoryTests.fence(a, resource))
            #expect(
                await PostgresStoreTests.write(a, [.appendStream(try StoreTests.streamMessage("fenced", 1, 1))]) == nil)

            a.sessionOwnership!.release(resource)
            #expect(await PostgresSessionOwnershipTests.claim(b, resource))
            #expect(await PostgresSharedHistoryTests.fence(b, resource))
            var mine = try StoreTests.streamMessage("fenced", 1, 2)
            mine.message = BusMessage(topic: try Topic("orders/2"), payload: ByteBuffer(string: "from b"), timestamp: 2)
            #expect(await PostgresStoreTests.write(b, [.appendStream(mine)]) == nil)
            let refused = await PostgresStoreTests.write(
                a, [.appendStream(try StoreTests.streamMessage("fenced", 1, 2))])
            #expect((refused as? StoreWriterFenced)?.resources == [resource])
            #expect(
                await PostgresStoreTests.write(a, [.appendStream(try StoreTests.streamMessage("fenced", 0, 1))]) == nil)

            let change = try #require(
                try await withCheckedThrowingContinuation { continuation in
                    b.sessionOwnership!.loadStream("fenced", after: [0, 0], epochs: ["e1", "e1"], kept: false) {
                        continuation.resume(with: $0)
                    }
                })
            #expect(change.partitions[1].records.map(\.offset) == [1, 2])
            #expect(change.partitions[1].records.last.map { String(buffer: $0.message.payload) } == "from b")
            #expect(change.partitions[0].records.map(\.offset) == [1])
        }
    }
}
