import BusCore
import Storage
import SwitchboardTestSupport
import Testing

@testable import BusRuntime

/// PocketBase's batch on the records service: changes decided in order (a later one sees what an earlier
/// one made), stored in one commit, all or none; a refused change leaves nothing behind.
@Suite struct RecordBatchTests {
    let base = RecordCollectionsTests()

    static func batch(_ records: RecordCollections, _ changes: [RecordCollections.BatchChange]) async
        -> Result<[Record], RecordCollections.BatchRefusal>
    {
        await withCheckedContinuation { continuation in
            records.batch(changes, caller: RecordCollectionsTests.admin, now: 5) { continuation.resume(returning: $0) }
        }
    }

    @Test func laterChangesSeeEarlierOnesAndAllAreStoredInOneCommit() async throws {
        let store = GatedStore()
        let (_, records) = try await base.makeRecords(store)
        let pump = RecordCollectionsTests.pump(store)
        try await RecordCollectionsTests.makeCollection(records, "tasks")
        try await RecordCollectionsTests.makeCollection(records, "notes")
        _ = try await RecordCollectionsTests.await {
            records.create(
                "notes", body: RecordCollectionsTests.body(["id": "old", "text": "x"]),
                caller: RecordCollectionsTests.admin, now: 1, completion: $0)
        }.get()
        pump.cancel()
        await pump.value
        let attempt = Task {
            await Self.batch(
                records,
                [
                    .create(collection: "tasks", body: RecordCollectionsTests.body(["id": "t1", "title": "a"])),
                    .update(
                        collection: "tasks", id: "t1", body: RecordCollectionsTests.body(["title": "b"]), ifMatch: 1),
                    .upsert(collection: "notes", body: RecordCollectionsTests.body(["id": "old", "text": "y"])),
                    .upsert(collection: "notes", body: RecordCollectionsTests.body(["id": "new", "text": "z"])),
                    .delete(collection: "notes", id: "old", ifMatch: 2),
                ])
        }
        #expect(await eventually { store.heldCount == 1 })
        // One commit holds every change of the batch; nothing is visible before it.
        let recordWrites = store.heldWrites[0].filter {
            switch $0 {
            case .saveRecord, .deleteRecord: true
            default: false
            }
        }
        #expect(recordWrites.count == 5)
        let listed = try records.list("tasks", query: RecordListQuery(), caller: RecordCollectionsTests.admin, now: 0)
        #expect(listed.items.isEmpty)
        store.release()
        let stored = try await attempt.value.get()
        #expect(stored.map(\.id) == ["t1", "t1", "old", "new", "old"])
        #expect(stored.map(\.version) == [1, 2, 2, 1, 2])
        let task = try records.view("tasks", id: "t1", caller: RecordCollectionsTests.admin, now: 0)
        #expect(task.version == 2 && task.fields.first { $0.key == "title" }?.value == .string("b"))
        #expect(throws: RecordError.self) {
            _ = try records.view("notes", id: "old", caller: RecordCollectionsTests.admin, now: 0)
        }
        #expect(try records.view("notes", id: "new", caller: RecordCollectionsTests.admin, now: 0).version == 1)
    }

    @Test func aRefusedChangeRefusesTheBatchAndLeavesNothing() async throws {
        let store = GatedStore()
        let (_, records) = try await base.makeRecords(store)
        let pump = RecordCollectionsTests.pump(store)
        try await RecordCollectionsTests.makeCollection(records, "tasks")
        let counts = records.recordCounts()
        let refused = await Self.batch(
            records,
            [
                .create(collection: "tasks", body: RecordCollectionsTests.body(["id": "t1", "title": "a"])),
                .update(collection: "tasks", id: "t1", body: RecordCollectionsTests.body(["title": "b"]), ifMatch: 7),
            ])
        guard case .failure(let refusal) = refused else {
            Issue.record("a version conflict must refuse the batch")
            return
        }
        #expect(refusal.index == 1)
        guard case .versionConflict = refusal.error else {
            Issue.record("\(refusal.error)")
            return
        }
        #expect(records.recordCounts() == counts)
        // Nothing of it is pending: the id is free, and a batch naming a missing collection is refused too.
        let retry = await Self.batch(
            records, [.create(collection: "tasks", body: RecordCollectionsTests.body(["id": "t1", "title": "a"]))])
        #expect((try? retry.get())?.first?.version == 1)
        let missing = await Self.batch(
            records,
            [
                .delete(collection: "tasks", id: "t1", ifMatch: nil),
                .create(collection: "nope", body: RecordCollectionsTests.body([:])),
            ])
        #expect((try? missing.get()) == nil)
        #expect(try records.view("tasks", id: "t1", caller: RecordCollectionsTests.admin, now: 0).version == 1)
        let empty = await Self.batch(records, [])
        #expect((try? empty.get()) == nil)
        pump.cancel()
    }
}
