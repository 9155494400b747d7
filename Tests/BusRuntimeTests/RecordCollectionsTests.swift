import BusCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storage
import SwitchboardTestSupport
import Testing

@testable import BusRuntime

/// Record collections on the running bus (issue 20): a change is visible and published only once stored,
/// in commit order; updates of one record decided on the newest accepted version lose nothing; rules
/// decide per caller; a failed commit leaves nothing behind; a restart on the same store brings it all back.
@Suite struct RecordCollectionsTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }
    static let admin = RecordCaller.admin(via: "test")

    static func user(_ id: String) -> RecordCaller {
        RecordCaller(isAdmin: false, auth: .object([JSONField(key: "id", value: .string(id))]), changedBy: id)
    }

    static func body(_ fields: [String: String]) -> JSONValue {
        .object(fields.sorted { $0.key < $1.key }.map { JSONField(key: $0.key, value: .string($0.value)) })
    }

    static func await<Value: Sendable>(
        _ start: (@escaping @Sendable (Result<Value, RecordError>) -> Void) -> Void
    ) async -> Result<Value, RecordError> {
        await withCheckedContinuation { continuation in start { continuation.resume(returning: $0) } }
    }

    /// The buses the tests made. The records service refers to its bus unowned (the bus owns it), so a
    /// test that keeps only the service must not let the bus go while the loops still run its work.
    static let buses = NIOLockedValueBox<[Bus]>([])

    func makeRecords(_ store: any Store) async throws -> (Bus, RecordCollections) {
        let bus = Bus(eventLoops: loops, store: store)
        Self.buses.withLockedValue { $0.append(bus) }
        return (bus, bus.records)
    }

    static func makeCollection(
        _ records: RecordCollections, _ name: String, rules: [RecordCollectionDefinition.Action: String] = [:]
    ) async throws {
        let definition = RecordCollectionDefinition(name: name, rules: rules)
        _ = try await Self.await { records.saveCollection(definition, replace: false, completion: $0) }.get()
    }

    /// Commits whatever the gated store holds until cancelled (stream appends and feed writes follow
    /// each change; the tests look at the moments before a release).
    static func pump(_ store: GatedStore) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                store.release()
                try? await Task.sleep(for: .milliseconds(2))
            }
            store.release()
        }
    }

    @Test func aChangeIsSeenAndPublishedOnlyOnceStoredInCommitOrder() async throws {
        let store = GatedStore()
        let (bus, records) = try await makeRecords(store)
        let subscriber = TestSubscriber(eventLoop: loops[1], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("collections/tasks/+", subscriber)
        var pump = Self.pump(store)
        try await Self.makeCollection(records, "tasks")
        pump.cancel()
        await pump.value
        let created = Task {
            await Self.await {
                records.create("tasks", body: Self.body(["title": "a"]), caller: Self.admin, now: 1_000, completion: $0)
            }
        }
        #expect(await eventually { store.heldCount == 1 })
        #expect(try records.list("tasks", query: RecordListQuery(), caller: Self.admin, now: 0).items.isEmpty)
        #expect(subscriber.payloads.isEmpty)
        pump = Self.pump(store)
        let record = try await created.value.get()
        #expect(record.version == 1 && record.id.count == 15)
        #expect(try records.view("tasks", id: record.id, caller: Self.admin, now: 0).json == record.json)
        for title in ["b", "c"] {
            _ = try await Self.await {
                records.update(
                    "tasks", id: record.id, body: Self.body(["title": title]), ifMatch: nil, caller: Self.admin,
                    now: 2_000, completion: $0)
            }.get()
        }
        #expect(await eventually { subscriber.payloads.count == 3 })
        let feedName = RecordCollections.feedStreamName("tasks")
        #expect(await eventually { (try? bus.streams.read(feedName, partition: 0, from: 0).records.count) == 3 })
        pump.cancel()
        let events = try subscriber.payloads.map { try JSONValue.parse($0) }
        #expect(events.map { $0["action"]?.stringValue } == ["create", "update", "update"])
        #expect(events.map { $0["record"]?["title"]?.stringValue } == ["a", "b", "c"])
        #expect(events.map { $0["record"]?["version"]?.intValue } == [1, 2, 3])
        #expect(events.allSatisfy { $0["changed_by"]?.stringValue == "test" })
    }

    @Test func concurrentUpdatesOfOneRecordAllApply() async throws {
        let (_, records) = try await makeRecords(MemoryStore())
        try await Self.makeCollection(records, "counters")
        let record = try await Self.await {
            records.create("counters", body: Self.body([:]), caller: Self.admin, now: 1, completion: $0)
        }.get()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<50 {
                group.addTask {
                    _ = try await Self.await {
                        records.update(
                            "counters", id: record.id, body: Self.body(["k\(index)": "v"]), ifMatch: nil,
                            caller: Self.admin, now: 2, completion: $0)
                    }.get()
                }
            }
            try await group.waitForAll()
        }
        let final = try records.view("counters", id: record.id, caller: Self.admin, now: 0)
        #expect(final.version == 51 && final.fields.count == 50)
        let stale = await Self.await {
            records.update(
                "counters", id: record.id, body: Self.body(["x": "y"]), ifMatch: 3, caller: Self.admin, now: 3,
                completion: $0)
        }
        #expect(stale.failureValue == .versionConflict(current: 51))
    }

    @Test func rulesDecidePerCaller() async throws {
        let (_, records) = try await makeRecords(MemoryStore())
        try await Self.makeCollection(
            records, "notes",
            rules: [
                .list: "owner = @request.auth.id", .view: "owner = @request.auth.id",
                .create: "@request.auth.id != '' && owner = @request.auth.id",
            ])
        let alice = Self.user("alice")
        let mine = try await Self.await {
            records.create("notes", body: Self.body(["owner": "alice"]), caller: alice, now: 1, completion: $0)
        }.get()
        let forged = await Self.await {
            records.create("notes", body: Self.body(["owner": "bob"]), caller: alice, now: 1, completion: $0)
        }
        #expect(forged.failureValue == .badRequest("Failed to create record."))
        let guest = Self.user("")
        #expect(
            await Self.await {
                records.create("notes", body: Self.body(["owner": ""]), caller: guest, now: 1, completion: $0)
            }.failureValue == .badRequest("Failed to create record."))
        #expect(try records.list("notes", query: RecordListQuery(), caller: alice, now: 0).items.map(\.id) == [mine.id])
        #expect(try records.list("notes", query: RecordListQuery(), caller: Self.user("bob"), now: 0).items.isEmpty)
        #expect(throws: RecordError.recordNotFound) {
            try records.view("notes", id: mine.id, caller: Self.user("bob"), now: 0)
        }
        let deleted = await Self.await {
            records.delete("notes", id: mine.id, ifMatch: nil, caller: alice, now: 2, completion: $0)
        }
        #expect(deleted.failureValue == .onlyAdmins)
        // The delivery check of the change event, as the bus runs it for each subscriber.
        let event = BusMessage(
            topic: try Topic("collections/notes/\(mine.id)"),
            payload: ByteBuffer(string: #"{"action":"create","record":"# + mine.json + "}"), timestamp: 1)
        let viewer = { (id: String) in RecordViewer(auth: .object([JSONField(key: "id", value: .string(id))])) }
        #expect(records.mayView(event, viewer("alice")))
        #expect(!records.mayView(event, viewer("bob")) && !records.mayView(event, .guest))
    }

    @Test func aFailedCommitLeavesNothingBehind() async throws {
        let store = GatedStore()
        let (_, records) = try await makeRecords(store)
        let pump = Self.pump(store)
        try await Self.makeCollection(records, "tasks")
        pump.cancel()
        await pump.value
        let attempt = Task {
            await Self.await {
                records.create(
                    "tasks", body: Self.body(["id": "fixed", "title": "x"]), caller: Self.admin, now: 1,
                    completion: $0)
            }
        }
        #expect(await eventually { store.heldCount == 1 })
        store.release(failing: true)
        guard case .unavailable = await attempt.value.failureValue else {
            Issue.record("a failed commit must be reported")
            return
        }
        #expect(try records.list("tasks", query: RecordListQuery(), caller: Self.admin, now: 0).items.isEmpty)
        // The id is free again: nothing of the failed create is pending.
        let retry = Self.pump(store)
        let record = try await Self.await {
            records.create(
                "tasks", body: Self.body(["id": "fixed", "title": "x"]), caller: Self.admin, now: 1, completion: $0)
        }.get()
        retry.cancel()
        #expect(record.id == "fixed")
    }

    /// The record and its event in the collection's feed are one batch, so one transaction of the store:
    /// a crash (or a failed commit) keeps both or neither, and a change costs one commit, not one for the
    /// record and another for the feed's copy of its event.
    @Test func aChangeAndItsFeedEventAreCommittedTogether() async throws {
        let store = GatedStore()
        let (bus, records) = try await makeRecords(store)
        let subscriber = TestSubscriber(eventLoop: loops[1], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("collections/tasks/+", subscriber)
        let pump = Self.pump(store)
        try await Self.makeCollection(records, "tasks")
        pump.cancel()
        await pump.value
        let feedName = RecordCollections.feedStreamName("tasks")
        let create = { (id: String) in
            Task {
                await Self.await {
                    records.create(
                        "tasks", body: Self.body(["id": id, "title": id]), caller: Self.admin, now: 1, completion: $0)
                }
            }
        }
        let failed = create("lost")
        #expect(await eventually { store.heldCount == 1 })
        let batch = try #require(store.heldWrites.first)
        guard batch.count == 2, case .saveRecord(let saved) = batch[0], case .appendStream(let appended) = batch[1]
        else {
            Issue.record("the record and its feed event must be one batch: \(batch)")
            return
        }
        #expect(saved.id == "lost" && appended.stream == feedName)
        #expect(appended.message.topic.name == "collections/tasks/lost")
        store.release(failing: true)
        #expect(await failed.value.failureValue != nil)
        // Neither is left: no record, no event in the feed, none published.
        #expect(try records.list("tasks", query: RecordListQuery(), caller: Self.admin, now: 0).items.isEmpty)
        #expect(try bus.streams.read(feedName, partition: 0, from: 0).records.isEmpty)

        let kept = create("kept")
        #expect(await eventually { store.heldCount == 1 })
        store.release()
        let record = try await kept.value.get()
        let events = try bus.streams.read(feedName, partition: 0, from: 0).records
        #expect(events.map(\.record.message.topic.name) == ["collections/tasks/kept"])
        #expect(await eventually { subscriber.payloads.count == 1 })
        // The publish did not store the event a second time: nothing more was submitted.
        try await Task.sleep(for: .milliseconds(50))
        #expect(store.heldCount == 0 && subscriber.payloads.count == 1)
        let stored = try store.load()
        #expect(stored.records.map(\.id) == [record.id])
        let feed = try #require(stored.streams.first { $0.configuration.name == feedName })
        #expect(feed.partitions[0].messages.map(\.message.topic.name) == ["collections/tasks/kept"])
        #expect(String(buffer: feed.partitions[0].messages[0].message.payload) == subscriber.payloads.first)
    }

    @Test func maxRecordsBoundsWhatIsHeldInMemory() async throws {
        let bus = Bus(eventLoops: loops, configuration: BusConfiguration(maxRecords: 2), store: MemoryStore())
        Self.buses.withLockedValue { $0.append(bus) }
        let records = bus.records
        try await Self.makeCollection(records, "tasks")
        var made: [Record] = []
        for title in ["a", "b"] {
            made.append(
                try await Self.await {
                    records.create(
                        "tasks", body: Self.body(["title": title]), caller: Self.admin, now: 1, completion: $0)
                }.get())
        }
        let third = await Self.await {
            records.create("tasks", body: Self.body(["title": "c"]), caller: Self.admin, now: 1, completion: $0)
        }
        guard case .badRequest(let message)? = third.failureValue else {
            Issue.record("the third create must be refused: \(third)")
            return
        }
        #expect(message.contains("limits.max_records"))
        _ = try await Self.await {
            records.delete("tasks", id: made[0].id, ifMatch: nil, caller: Self.admin, now: 2, completion: $0)
        }.get()
        _ = try await Self.await {
            records.create("tasks", body: Self.body(["title": "c"]), caller: Self.admin, now: 3, completion: $0)
        }.get()
    }

    @Test func aRestartBringsCollectionsAndRecordsBack() async throws {
        let store = MemoryStore()
        let (_, records) = try await makeRecords(store)
        try await Self.makeCollection(records, "tasks", rules: [.list: ""])
        for title in ["a", "b"] {
            _ = try await Self.await {
                records.create("tasks", body: Self.body(["title": title]), caller: Self.admin, now: 1, completion: $0)
            }.get()
        }
        let (_, again) = try await makeRecords(store)
        let state = try store.load()
        let restored = again.restore(collections: state.collections, records: state.records)
        #expect(restored.collections == 1 && restored.records == 2 && restored.skipped == 0)
        #expect(again.definition("tasks")?.rules[.list] == "")
        let titles = try again.list("tasks", query: RecordListQuery(), caller: Self.admin, now: 0).items.map {
            $0.document["title"]?.stringValue
        }
        #expect(Set(titles) == ["a", "b"])
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
