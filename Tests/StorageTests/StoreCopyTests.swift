import BusCore
import Foundation
import NIOCore
import Testing

@testable import Storage

/// `switchboard migrate-store`'s copy: an embedded SQLite store with every kind of durable state, copied
/// into each implementation, reads back the same; a log whose newest offset nothing carries starts a new
/// epoch; a destination that holds anything is refused.
@Suite(.postgresServer) struct StoreCopyTests {
    typealias Harness = StoreTests.Harness

    static func filledSource() async throws -> Harness {
        let source = try Harness(.sqlite)
        let orders = try Topic("orders/eu")
        let gone = try Topic("gone/all")
        let message = StoreTests.message
        try await source.write(
            (UInt64(1)...6).map { i in
                .appendLog(topic: orders, epoch: "e1", message: try! message("orders/eu", "m\(i)", i, "e1"), keep: 4)
            } + [
                .appendLog(topic: gone, epoch: "g1", message: try message("gone/all", "x", 9, "g1"), keep: 10),
                .trimLogByAge(topic: gone, before: 1_000_000),
                .retain(topic: try Topic("sensors/t"), message: try message("sensors/t", "21.5", nil, "")),
                .saveSessionMessage(seq: 1, message: try message("a/b", "owed", nil, "")),
                .saveSessionMessage(seq: 2, message: try message("a/c", "owed too", nil, "")),
                .saveSession(StoredSession.Header(clientID: "c1", expirySeconds: 3_600, disconnectedAt: 77)),
                .saveSubscription(
                    clientID: "c1", StoredSubscription(filter: "a/#", options: 0x01, identifier: 7, sinceSeq: 0)),
                .saveDelivery(clientID: "c1", StoredDelivery(seq: 1, packetID: 5, state: .sent)),
                .inboundQoS2(clientID: "c1", packetID: 9, received: true),
                .saveConsumerOffset(StoredConsumerOffset(group: "g", topic: "orders/eu", epoch: "e1", offset: 4)),
                .saveExchange(
                    StoredExchange(
                        name: "ex", type: "topic", autoDelete: false, internal: false, alternateExchange: nil)),
                .saveExchange(
                    StoredExchange(
                        name: "ex2", type: "fanout", autoDelete: false, internal: false, alternateExchange: nil)),
                .saveQueue(StoredQueue(name: "q", durable: true, exclusive: false, autoDelete: false, arguments: [1])),
                .saveBinding(StoredBinding(exchange: "ex", queue: "q", routingKey: "a.#")),
                .saveExchangeBinding(StoredExchangeBinding(source: "ex2", destination: "ex", routingKey: "")),
                .saveQueueMessage(
                    StoredQueueMessage(
                        queue: "q", id: 3, priority: 1, deadline: .max, exchange: "ex", routingKeys: ["a.b"],
                        deaths: [],
                        redelivered: false, message: try message("$amqp/queue", "queued", nil, ""))),
                .saveCollection(StoredCollection(name: "tasks", definition: #"{"listRule":""}"#)),
                .saveRecord(StoreTests.record("tasks", "t1", version: 3, fields: #"{"title":"carried"}"#)),
            ])
        return source
    }

    @Test(arguments: StoreTests.Kind.allCases) func everythingComesAcross(kind: StoreTests.Kind) async throws {
        let source = try await Self.filledSource()
        let destination = try Harness(kind)
        let counts = try StoreCopy.copy(from: source.store, to: destination.store) { "fresh" }
        #expect(counts.logs == 2 && counts.logMessages == 4 && counts.logsInNewEpoch == 1)
        #expect(counts.sessions == 1 && counts.sessionMessages == 2 && counts.queueMessages == 1)
        let before = try source.store.load()
        let after = try destination.restart()

        let logs = Dictionary(uniqueKeysWithValues: after.logs.map { ($0.topic.name, $0) })
        let orders = try #require(logs["orders/eu"])
        #expect(orders.epoch == "e1" && orders.lastOffset == 6 && orders.intact)
        #expect(orders.messages.map(\.offset) == [3, 4, 5, 6])
        #expect(orders.messages.map { String(buffer: $0.payload) } == ["m3", "m4", "m5", "m6"])
        // Its newest offset (9) left with its message: a new epoch, so nobody resumes at a wrong offset.
        #expect(logs["gone/all"].map { $0.epoch == "fresh" && $0.messages.isEmpty } == true)

        #expect(after.retained.map { String(buffer: $0.payload) } == ["21.5"])
        #expect(after.sessions == before.sessions)
        #expect(after.sessionMessages.map(\.seq) == [1, 2])
        #expect(after.consumerOffsets == before.consumerOffsets)
        #expect(after.exchanges == before.exchanges && after.queues == before.queues)
        #expect(after.bindings == before.bindings && after.exchangeBindings == before.exchangeBindings)
        #expect(after.queueMessages.map(\.id) == [3])
        #expect(after.queueMessages.map { String(buffer: $0.message.payload) } == ["queued"])
        #expect(counts.collections == 1 && counts.records == 1)
        #expect(after.collections == before.collections && after.records == before.records)
    }

    @Test func aDestinationWithStateIsRefused() async throws {
        let source = try await Self.filledSource()
        let destination = try Harness(.sqlite)
        try await destination.write([.retain(topic: try Topic("x"), message: try StoreTests.message("x", "1"))])
        #expect(throws: StoreCopy.DestinationNotEmpty.self) {
            try StoreCopy.copy(from: source.store, to: destination.store) { "fresh" }
        }
        #expect(try destination.store.load().retained.count == 1)
    }
}

extension StoreCopyTests {
    /// Streams come across with their definitions, epochs, newest offsets (also of an emptied partition),
    /// messages with keys, and consumer group offsets.
    @Test(arguments: StoreTests.Kind.allCases) func streamsComeAcross(kind: StoreTests.Kind) async throws {
        let source = try Harness(.sqlite)
        let configuration = try StoreTests.streamConfiguration("orders")
        try await source.write([
            .saveStream(configuration),
            .saveStreamPartition(stream: "orders", partition: 0, epoch: "p0", lastOffset: 0),
            .saveStreamPartition(stream: "orders", partition: 1, epoch: "p1", lastOffset: 0),
            .appendStream(try StoreTests.streamMessage("orders", 0, 1, key: "k")),
            .appendStream(try StoreTests.streamMessage("orders", 0, 2)),
            .appendStream(try StoreTests.streamMessage("orders", 1, 1)),
            .trimStream(stream: "orders", partition: 1, before: 2),
            .saveStreamConsumerOffset(
                StoredStreamConsumerOffset(group: "g", stream: "orders", partition: 0, epoch: "p0", offset: 2)),
        ])
        let destination = try Harness(kind)
        let counts = try StoreCopy.copy(from: source.store, to: destination.store) { "fresh" }
        #expect(counts.streams == 1 && counts.streamMessages == 2 && counts.streamConsumerOffsets == 1)
        let after = try destination.restart()
        let stream = try #require(after.streams.first)
        #expect(stream.configuration == configuration)
        #expect(stream.partitions.map(\.epoch) == ["p0", "p1"] && stream.partitions.map(\.lastOffset) == [2, 1])
        #expect(stream.partitions[0].messages.map(\.offset) == [1, 2] && stream.partitions[1].messages.isEmpty)
        #expect(stream.partitions[0].messages[0].key == Array("k".utf8))
        #expect(after.streamConsumerOffsets == (try source.store.load()).streamConsumerOffsets)
    }
}

extension StoreCopyTests {
    /// A stream longer than one batch is copied a batch at a time (its records read from the source with
    /// `readStream`), every record and the holes a delete left in place.
    @Test(arguments: StoreTests.Kind.allCases) func aLongStreamComesAcrossInBatches(kind: StoreTests.Kind)
        async throws
    {
        let source = try Harness(.sqlite)
        try await source.write([
            .saveStream(try StoreTests.streamConfiguration("long", partitions: 1)),
            .saveStreamPartition(stream: "long", partition: 0, epoch: "e", lastOffset: 0),
        ])
        for start in stride(from: UInt64(1), through: 2_500, by: 500) {
            try await source.write(
                try (start..<start + 500).map { .appendStream(try StoreTests.streamMessage("long", 0, $0)) })
        }
        try await source.write([.deleteStreamMessages(stream: "long", partition: 0, offsets: [7, 1_001, 2_500])])
        let destination = try Harness(kind)
        let counts = try StoreCopy.copy(from: source.store, to: destination.store) { "fresh" }
        #expect(counts.streamMessages == 2_497)
        let partition = try #require(try destination.restart().streams.first?.partitions.first)
        let expected = (UInt64(1)...2_500).filter { ![7, 1_001, 2_500].contains($0) }
        #expect(partition.messages.map(\.offset) == expected && partition.lastOffset == 2_500)
        #expect(partition.messages.allSatisfy { String(buffer: $0.message.payload) == "m\($0.offset)" })
    }
}
