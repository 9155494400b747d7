import BusCore
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import Storage

/// Durable topic logs among stores sharing one database (docs/storage.md, "Durable topic logs are
/// shared"): every commit appending to a log announces it once with the writer's slot, and a log's tail
/// is read fresh after the offset an instance has.
@Suite(.postgresServer) struct PostgresSharedHistoryTests {
    static func loadLog(_ store: PostgresStore, _ topic: Topic, after: UInt64, epoch: String) async throws
        -> StoredLog?
    {
        try await withCheckedThrowingContinuation { continuation in
            store.sessionOwnership!.loadLog(topic, after: after, epoch: epoch) { continuation.resume(with: $0) }
        }
    }

    static func append(_ topic: Topic, _ offset: UInt64, epoch: String = "e1") throws -> StoreWrite {
        .appendLog(
            topic: topic, epoch: epoch,
            message: try StoreTests.message(
                topic.name, "m\(offset)", offset: offset,
                epoch: epoch), keep: 3)
    }

    @Test func logAppendsAreAnnouncedOncePerLogAndCommitAndReadFreshAfterAnOffset() async throws {
        try await withTwoInstances { a, b, _, _ in
            let heard = NIOLockedValueBox<[String]>([])
            b.sessionOwnership!.listen(StoreOwnedResource.historyChannel) { payload in
                heard.withLockedValue { $0.append(payload) }
            }
            let topic = try Topic("ledger/eu")
            #expect(try await Self.loadLog(b, topic, after: 0, epoch: "e1") == nil)
            let slot = a.sessionOwnership!.instanceSlot
            #expect(await PostgresStoreTests.write(a, try (1...4).map { try Self.append(topic, $0) }) == nil)
            try await PostgresSharedStreamTests.waitFor { heard.withLockedValue { $0.count } == 1 }
            #expect(heard.withLockedValue { $0 } == ["\(slot)\nledger/eu"])

            // After offset 2 in its epoch: offsets 3 and 4 (the count bound kept 2…4).
            let tail = try #require(try await Self.loadLog(b, topic, after: 2, epoch: "e1"))
            #expect(tail.epoch == "e1" && tail.lastOffset == 4)
            #expect(tail.messages.map(\.offset) == [3, 4])
            #expect(tail.messages.map { String(buffer: $0.payload) } == ["m3", "m4"])
            // Another epoch: every kept message.
            let whole = try #require(try await Self.loadLog(b, topic, after: 4, epoch: "other"))
            #expect(whole.messages.map(\.offset) == [2, 3, 4])

            // A reset is announced too, and read as the new epoch.
            #expect(await PostgresStoreTests.write(a, [.resetLog(topic: topic, epoch: "e2")]) == nil)
            try await PostgresSharedStreamTests.waitFor { heard.withLockedValue { $0.count } == 2 }
            let reset = try #require(try await Self.loadLog(b, topic, after: 4, epoch: "e1"))
            #expect(reset.epoch == "e2" && reset.lastOffset == 0 && reset.messages.isEmpty)
        }
    }

    static func fence(_ store: PostgresStore, _ resource: String) async -> Bool {
        await withCheckedContinuation { continuation in
            store.sessionOwnership!.fenceWriter(resource) { continuation.resume(returning: $0) }
        }
    }

    /// The fence inside the writes (docs/storage.md, "Fenced writes"): an instance whose writer claim went
    /// (here let go by hand, as a lost connection lets go) and was taken and fenced by another cannot
    /// commit the appends it still has queued — they fail instead of overwriting the new writer's
    /// acknowledged appends at the same offsets, and its other writes still commit.
    @Test func appendsOfAWriterFencedOutFailAndAreNotStored() async throws {
        try await withTwoInstances { a, b, _, _ in
            let topic = try Topic("ledger/fenced")
            let resource = StoreOwnedResource.name(kind: StoreOwnedResource.historyWriterKind, topic.name)
            #expect(StoreOwnedResource.writerResource(of: try Self.append(topic, 1)) == resource)
            // Fencing needs the claim held.
            #expect(await Self.fence(a, resource) == false)
            #expect(await PostgresSessionOwnershipTests.claim(a, resource))
            #expect(await Self.fence(a, resource))
            #expect(await PostgresStoreTests.write(a, [try Self.append(topic, 1)]) == nil)

            // A's lock goes; B claims, fences, and appends offset 2 (acknowledged to its client).
            a.sessionOwnership!.release(resource)
            #expect(await PostgresSessionOwnershipTests.claim(b, resource))
            #expect(await Self.fence(b, resource))
            let written = try StoreTests.message(topic.name, "b2", offset: 2, epoch: "e1")
            #expect(
                await PostgresStoreTests.write(b, [.appendLog(topic: topic, epoch: "e1", message: written, keep: 3)])
                    == nil)
            // A's append still queued (offset 2 too, from its copy) fails instead of overwriting B's.
            let refused = await PostgresStoreTests.write(a, [try Self.append(topic, 2)])
            #expect((refused as? StoreWriterFenced)?.resources == [resource], "\(String(describing: refused))")
            #expect(a.statistics.degraded == nil)
            // Nor does its reset (a take-back that could not) empty the log B continues.
            let reset = await PostgresStoreTests.write(a, [.resetLog(topic: topic, epoch: "a-new")])
            #expect(reset is StoreWriterFenced)
            // A's other writes go on; so do its appends to logs it still holds alone.
            #expect(await PostgresStoreTests.write(a, [PostgresStoreTests.queue("still-a")]) == nil)
            #expect(await PostgresStoreTests.write(a, [try Self.append(try Topic("ledger/other"), 1)]) == nil)
            let log = try #require(try await Self.loadLog(b, topic, after: 0, epoch: "e1"))
            #expect(log.messages.map { String(buffer: $0.payload) } == ["m1", "b2"])
        }
    }
}
