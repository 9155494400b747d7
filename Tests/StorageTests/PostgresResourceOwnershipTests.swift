import BusCore
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import Storage

/// Claims of resources other than MQTT sessions (AMQP durable queues, Kafka REST consumer groups) among
/// stores sharing one database, the notifications a batch sends once it commits, and one queue's
/// messages read fresh (`PostgresSessionOwnership`, docs/storage.md "Several instances").
@Suite(.postgresServer) struct PostgresResourceOwnershipTests {
    static let queueResource = StoreOwnedResource.name(kind: "amqp-queue", "orders")

    @Test func aResourceClaimGoesToTheResourceHandlerNotTheSessions() async throws {
        try await withTwoInstances { a, b, server, configuration in
            let sessions = NIOLockedValueBox<[String]>([])
            let resources = NIOLockedValueBox<[String]>([])
            a.sessionOwnership!.onTakeoverRequested { name in sessions.withLockedValue { $0.append(name) } }
            a.sessionOwnership!.onResourceReleaseRequested { name, lost in
                #expect(!lost)
                resources.withLockedValue { $0.append(name) }
                a.sessionOwnership!.release(name)
            }
            #expect(StoreOwnedResource.isResource(Self.queueResource))
            #expect(!StoreOwnedResource.isResource("orders"))
            #expect(await PostgresSessionOwnershipTests.claim(a, Self.queueResource))
            // A session of the same name is another lock.
            #expect(await PostgresSessionOwnershipTests.claim(b, "orders", timeout: .milliseconds(200)))
            #expect(await PostgresSessionOwnershipTests.claim(b, Self.queueResource))
            #expect(resources.withLockedValue { $0 } == [Self.queueResource])
            #expect(sessions.withLockedValue { $0 }.isEmpty)
        }
    }

    @Test func aNotificationReachesTheListenersOnlyWhenItsBatchCommits() async throws {
        try await withTwoInstances { a, b, server, configuration in
            let heard = NIOLockedValueBox<[String]>([])
            b.sessionOwnership!.listen("test_channel") { payload in heard.withLockedValue { $0.append(payload) } }
            // A failing statement rolls the batch back: its notification is never sent.
            #expect(
                await PostgresStoreTests.write(
                    a,
                    [
                        .notify(channel: "test_channel", payload: "rolled back"),
                        PostgresStoreTests.queue("bad\u{0}name"),
                    ]
                ) != nil)
            #expect(await PostgresStoreTests.write(a, [.notify(channel: "test_channel", payload: "q1")]) == nil)
            let deadline = NIODeadline.now() + .seconds(5)
            while heard.withLockedValue({ $0 }).isEmpty && NIODeadline.now() < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(heard.withLockedValue { $0 } == ["q1"])
        }
    }

    @Test func aQueuesMessagesAreReadFreshFromAnID() async throws {
        try await withTwoInstances { a, b, server, configuration in
            func stored(_ queue: String, _ id: UInt64, _ body: String) throws -> StoredQueueMessage {
                StoredQueueMessage(
                    queue: queue, id: id, priority: 1, deadline: .max, exchange: "", routingKeys: [queue], deaths: [],
                    redelivered: false, message: try StoreTests.message("$amqp/queue", body))
            }
            let forwarded: UInt64 = 1 << 62
            let writes: [StoreWrite] = [
                .saveQueueMessage(try stored("q", 1, "own")),
                .saveQueueMessage(try stored("q", forwarded | 5, "forwarded")),
                .saveQueueMessage(try stored("other", 2, "not this queue")),
            ]
            #expect(await PostgresStoreTests.write(a, writes) == nil)
            func read(from id: UInt64) async throws -> [String] {
                let messages = try await withCheckedThrowingContinuation { continuation in
                    b.sessionOwnership!.loadQueueMessages("q", from: id) { continuation.resume(with: $0) }
                }
                return messages.map { String(buffer: $0.message.payload) }
            }
            let fromStart = try await read(from: 0)
            #expect(fromStart == ["own", "forwarded"])
            let fromForwarded = try await read(from: forwarded)
            #expect(fromForwarded == ["forwarded"])
        }
    }

    @Test func aGroupsCommittedStreamOffsetsAreReadFresh() async throws {
        try await withTwoInstances { a, b, server, configuration in
            func offset(_ group: String, _ partition: Int, _ value: UInt64) -> StoreWrite {
                .saveStreamConsumerOffset(
                    StoredStreamConsumerOffset(
                        group: group, stream: "s", partition: partition, epoch: "e", offset: value))
            }
            #expect(
                await PostgresStoreTests.write(a, [offset("g", 0, 7), offset("g", 1, 3), offset("other", 0, 9)]) == nil)
            // An older commit (a stale copy) does not move it back.
            #expect(await PostgresStoreTests.write(a, [offset("g", 0, 5)]) == nil)
            let read = try await withCheckedThrowingContinuation { continuation in
                b.sessionOwnership!.loadStreamConsumerOffsets(group: "g") { continuation.resume(with: $0) }
            }
            #expect(
                read.sorted { $0.partition < $1.partition }.map { [$0.partition, Int($0.offset)] } == [
                    [0, 7], [1, 3],
                ])
            #expect(read.allSatisfy { $0.group == "g" && $0.stream == "s" && $0.epoch == "e" })
        }
    }

    /// With `shared_instances=true` a retained message's or a record's write announces itself in its
    /// transaction (every instance, the writer too, hears it), and both read back fresh as the database
    /// holds them: the retained topics and records asked for, nothing for those not there.
    @Test func retainedAndRecordWritesAreAnnouncedAndReadFresh() async throws {
        try await withTwoInstances { a, b, server, configuration in
            let heard = NIOLockedValueBox<[String]>([])
            b.sessionOwnership!.listen(StoreOwnedResource.retainedChannel) { topic in
                heard.withLockedValue { $0.append("retained " + topic) }
            }
            b.sessionOwnership!.listen(StoreOwnedResource.recordChannel) { key in
                heard.withLockedValue { $0.append("record " + key) }
            }
            let topic = try Topic("news/today")
            var body = ByteBuffer()
            body.writeString("sunny")
            let record = StoredRecord(
                collection: "tasks", id: "r1", version: 2, created: 1, updated: 3, fields: #"{"a":1}"#)
            #expect(
                await PostgresStoreTests.write(
                    a,
                    [
                        .retain(topic: topic, message: BusMessage(topic: topic, payload: body, timestamp: 1)),
                        .saveCollection(StoredCollection(name: "tasks", definition: "{}")), .saveRecord(record),
                        .deleteRecord(collection: "tasks", id: "gone"),
                    ]) == nil)
            let deadline = NIODeadline.now() + .seconds(5)
            while heard.withLockedValue({ $0.count }) < 4 && NIODeadline.now() < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(
                heard.withLockedValue { $0 } == [
                    "retained news/today", "record tasks", "record tasks\nr1", "record tasks\ngone",
                ])

            let retained = try await withCheckedThrowingContinuation { continuation in
                b.sessionOwnership!.loadRetained(["news/today", "news/none"]) { continuation.resume(with: $0) }
            }
            #expect(retained.keys.sorted() == ["news/today"])
            #expect(retained["news/today"].map { String(buffer: $0.payload) } == "sunny")
            let records = try await withCheckedThrowingContinuation { continuation in
                b.sessionOwnership!.loadRecords([("tasks", "r1"), ("tasks", "gone"), ("other", "r1")]) {
                    continuation.resume(with: $0)
                }
            }
            #expect(records == [record])
            let (collection, all) = try await withCheckedThrowingContinuation { continuation in
                b.sessionOwnership!.loadCollection("tasks") { continuation.resume(with: $0) }
            }
            #expect(collection == StoredCollection(name: "tasks", definition: "{}") && all == [record])
            let none = try await withCheckedThrowingContinuation { continuation in
                b.sessionOwnership!.loadCollection("other") { continuation.resume(with: $0) }
            }
            #expect(none.0 == nil && none.1.isEmpty)
        }
    }
}
