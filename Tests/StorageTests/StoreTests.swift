import BusCore
import Foundation
import NIOCore
import Testing

@testable import Storage

/// One suite, every implementation: each test writes through `submit`, "restarts" (the memory store
/// keeps its instance; SQLite closes and reopens its file; PostgreSQL closes and reconnects to its
/// database, on a server the suite starts) and checks what `load()` returns.
@Suite(.postgresServer) struct StoreTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory, sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// The implementations that keep their state outside the process.
    static let persistent: [Kind] = [.sqlite, .postgres]

    /// A store and a way to get it back as after a restart.
    final class Harness: @unchecked Sendable {
        let kind: Kind
        let path: String
        /// The test's own database, for `.postgres`.
        let postgres: PostgresStoreConfiguration?
        var store: any Store

        init(_ kind: Kind) throws {
            self.kind = kind
            path = NSTemporaryDirectory() + "store-\(UUID().uuidString).sqlite"
            if kind == .postgres {
                guard let server = PostgresServer.current else { throw StoreError("no PostgreSQL server") }
                postgres = try server.createDatabase()
            } else {
                postgres = nil
            }
            store = try Self.open(kind, path: path, postgres: postgres)
        }

        /// A new store on this harness's file or database (the memory store: the same instance).
        func open() throws -> any Store {
            kind == .memory ? store : try Self.open(kind, path: path, postgres: postgres)
        }

        private static func open(_ kind: Kind, path: String, postgres: PostgresStoreConfiguration?) throws
            -> any Store
        {
            switch kind {
            case .memory: return MemoryStore()
            case .sqlite: return try SQLiteStore(path: path)
            case .postgres: return try PostgresStore(configuration: postgres!)
            }
        }

        func restart() throws -> StoredState {
            _ = try restartedStore()
            return try store.load()
        }

        /// The store as after a restart (the memory store: the same instance).
        func restartedStore() throws -> any Store {
            if kind != .memory {
                store.close()
                store = try open()
            }
            return store
        }

        func write(_ writes: [StoreWrite]) async throws {
            let error: (any Error)? = await withCheckedContinuation { continuation in
                store.submit(writes) { continuation.resume(returning: $0) }
            }
            if let error { throw error }
        }

        deinit {
            store.close()
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
    }

    static func message(_ topic: String, _ text: String, offset: UInt64? = nil, epoch: String = "e1") throws
        -> BusMessage
    {
        BusMessage(
            topic: try Topic(topic), payload: ByteBuffer(string: text), timestamp: 1_000 + (offset ?? 0),
            position: offset.map { LogPosition(offset: $0, epoch: epoch) })
    }

    @Test(arguments: Kind.allCases) func logsSurviveWithEpochAndOffsets(kind: Kind) async throws {
        let harness = try Harness(kind)
        let topic = try Topic("orders/eu")
        try await harness.write(
            (UInt64(1)...5).map { i in
                .appendLog(
                    topic: topic, epoch: "e1", message: try! Self.message("orders/eu", "m\(i)", offset: i), keep: 3)
            })
        let state = try harness.restart()
        let log = try #require(state.logs.first)
        #expect(log.topic == topic && log.epoch == "e1" && log.lastOffset == 5 && log.intact)
        #expect(log.messages.map(\.offset) == [3, 4, 5])
        #expect(log.messages.map { String(buffer: $0.payload) } == ["m3", "m4", "m5"])
        #expect(log.messages.last?.position == LogPosition(offset: 5, epoch: "e1"))
    }

    @Test(arguments: Kind.allCases) func resetStartsANewEpoch(kind: Kind) async throws {
        let harness = try Harness(kind)
        let topic = try Topic("t")
        try await harness.write([
            .appendLog(topic: topic, epoch: "e1", message: try Self.message("t", "a", offset: 1), keep: 10)
        ])
        try await harness.write([
            .resetLog(topic: topic, epoch: "e2"),
            .appendLog(
                topic: topic, epoch: "e2", message: try Self.message("t", "b", offset: 1, epoch: "e2"), keep: 10),
        ])
        let log = try #require(try harness.restart().logs.first)
        #expect(log.epoch == "e2" && log.lastOffset == 1 && log.messages.map { String(buffer: $0.payload) } == ["b"])
    }

    @Test(arguments: Kind.allCases) func ageTrimKeepsTheNewest(kind: Kind) async throws {
        let harness = try Harness(kind)
        let topic = try Topic("t")
        try await harness.write(
            (1...4).map {
                .appendLog(
                    topic: topic, epoch: "e", message: try! Self.message("t", "\($0)", offset: $0, epoch: "e"), keep: 10
                )
            })
        try await harness.write([.trimLogByAge(topic: topic, before: 1_003)])
        let log = try #require(try harness.restart().logs.first)
        #expect(log.messages.map(\.offset) == [3, 4] && log.lastOffset == 4 && log.intact)
    }

    @Test(arguments: Kind.allCases) func headersRoundTrip(kind: Kind) async throws {
        let harness = try Harness(kind)
        let headers = MessageHeaders(
            contentType: "application/json", correlationID: "c-1", replyTo: "r/1",
            userProperties: [UserProperty(name: "k", value: "v"), UserProperty(name: "k", value: "w")],
            expiresAt: 99, priority: 4, eventType: "created", qos: 2, retain: true, payloadIsUTF8: true)
        let message = BusMessage(
            topic: try Topic("a/b"), payload: ByteBuffer(bytes: [0, 1, 2, 255]), headers: headers, publisherID: "p",
            timestamp: 42)
        try await harness.write([.retain(topic: message.topic, message: message)])
        let restored = try #require(try harness.restart().retained.first)
        #expect(restored.headers == headers && restored.publisherID == "p" && restored.timestamp == 42)
        #expect(Array(restored.payload.readableBytesView) == [0, 1, 2, 255])
        try await harness.write([.retain(topic: message.topic, message: nil)])
        #expect(try harness.restart().retained.isEmpty)
    }

    @Test(arguments: Kind.allCases) func sessionsAndWhatTheyOwn(kind: Kind) async throws {
        let harness = try Harness(kind)
        try await harness.write([
            .saveSession(.init(clientID: "c1", expirySeconds: 3600, disconnectedAt: 0)),
            .saveSubscription(
                clientID: "c1", StoredSubscription(filter: "a/#", options: 0x01, identifier: 7, sinceSeq: 0)),
            .saveSubscription(
                clientID: "c1", StoredSubscription(filter: "b", options: 0x02, identifier: nil, sinceSeq: 2)),
            .saveSessionMessage(seq: 1, message: try Self.message("a/x", "one")),
            .saveSessionMessage(seq: 2, message: try Self.message("a/y", "two")),
            .saveDelivery(clientID: "c1", StoredDelivery(seq: 1, packetID: 10, state: .released)),
            .saveDelivery(clientID: "c1", StoredDelivery(seq: 2, packetID: 11, state: .sent)),
            .inboundQoS2(clientID: "c1", packetID: 5, received: true),
            .inboundQoS2(clientID: "c1", packetID: 6, received: true),
            .inboundQoS2(clientID: "c1", packetID: 5, received: false),
            .deleteSubscription(clientID: "c1", filter: "b"),
            // Rows for a session that does not exist are not kept.
            .saveSubscription(
                clientID: "ghost", StoredSubscription(filter: "x", options: 0, identifier: nil, sinceSeq: 0)),
        ])
        var state = try harness.restart()
        let session = try #require(state.sessions.first)
        #expect(state.sessions.count == 1)
        #expect(session.header == .init(clientID: "c1", expirySeconds: 3600, disconnectedAt: 0))
        #expect(session.subscriptions == [StoredSubscription(filter: "a/#", options: 0x01, identifier: 7, sinceSeq: 0)])
        #expect(session.deliveries.map(\.packetID) == [10, 11] && session.deliveries.first?.state == .released)
        #expect(session.inboundQoS2 == [6])
        #expect(state.sessionMessages.map(\.seq) == [1, 2])
        #expect(state.sessionMessages.map { String(buffer: $0.message.payload) } == ["one", "two"])

        try await harness.write([
            .saveSession(.init(clientID: "c1", expirySeconds: 60, disconnectedAt: 5)),
            .trimSessionMessages(through: 1), .deleteDelivery(clientID: "c1", seq: 1),
        ])
        state = try harness.restart()
        #expect(state.sessions.first?.header.disconnectedAt == 5)
        #expect(state.sessions.first?.deliveries.map(\.seq) == [2])
        #expect(state.sessionMessages.map(\.seq) == [2])
        try await harness.write([.deleteSession(clientID: "c1")])
        #expect(try harness.restart().sessions.isEmpty)
    }

    /// Rows one batch writes twice in a row fold as their upserts would: PostgreSQL sends such a run of
    /// deliveries or queue messages as one statement, which cannot upsert a row twice.
    @Test(arguments: Kind.allCases) func rowsWrittenTwiceInOneBatchFoldAsTheirUpsertsWould(kind: Kind) async throws {
        let harness = try Harness(kind)
        func stored(_ id: UInt64, redelivered: Bool) throws -> StoredQueueMessage {
            StoredQueueMessage(
                queue: "q1", id: id, priority: 0, deadline: .max, exchange: "", routingKeys: ["q1"], deaths: [],
                redelivered: redelivered, message: try Self.message("$amqp/queue", "m\(id)"))
        }
        try await harness.write([
            .saveSession(.init(clientID: "c1", expirySeconds: 3600, disconnectedAt: 0)),
            .saveDelivery(clientID: "c1", StoredDelivery(seq: 1, packetID: 10, state: .sent)),
            .saveDelivery(clientID: "c1", StoredDelivery(seq: 2, packetID: 11, state: .sent)),
            .saveDelivery(clientID: "c1", StoredDelivery(seq: 1, packetID: 12, state: .released)),
            .saveDelivery(clientID: "ghost", StoredDelivery(seq: 3, packetID: 13, state: .sent)),
            .deleteDelivery(clientID: "c1", seq: 2), .deleteDelivery(clientID: "c1", seq: 2),
            .saveDelivery(clientID: "c1", StoredDelivery(seq: 4, packetID: 14, state: .sent)),
            .saveQueue(StoredQueue(name: "q1", durable: true, exclusive: false, autoDelete: false, arguments: [])),
            .saveQueueMessage(try stored(1, redelivered: false)), .saveQueueMessage(try stored(2, redelivered: false)),
            .saveQueueMessage(try stored(1, redelivered: true)),
        ])
        let state = try harness.restart()
        let session = try #require(state.sessions.first)
        #expect(state.sessions.count == 1)
        #expect(session.deliveries.map(\.seq) == [1, 4] && session.deliveries.map(\.packetID) == [12, 14])
        #expect(session.deliveries.first?.state == .released)
        #expect(state.queueMessages.map(\.id) == [1, 2] && state.queueMessages.map(\.redelivered) == [true, false])
        #expect(state.queueMessages.map { String(buffer: $0.message.payload) } == ["m1", "m2"])
    }

    @Test(arguments: Kind.allCases) func consumerOffsetsQueuesAndBindings(kind: Kind) async throws {
        let harness = try Harness(kind)
        let binding = StoredBinding(exchange: "amq.topic", queue: "q1", routingKey: "a.*")
        try await harness.write([
            .saveConsumerOffset(StoredConsumerOffset(group: "g", topic: "t", epoch: "e", offset: 3)),
            .saveConsumerOffset(StoredConsumerOffset(group: "g", topic: "t", epoch: "e", offset: 9)),
            .saveQueue(StoredQueue(name: "q1", durable: true, exclusive: false, autoDelete: false, arguments: [1, 2])),
            .saveQueue(StoredQueue(name: "q2", durable: true, exclusive: false, autoDelete: true, arguments: [])),
            .saveBinding(binding),
            .saveBinding(StoredBinding(exchange: "amq.topic", queue: "q2", routingKey: "#")),
            .deleteQueue(name: "q2"),
        ])
        let state = try harness.restart()
        #expect(state.consumerOffsets == [StoredConsumerOffset(group: "g", topic: "t", epoch: "e", offset: 9)])
        #expect(state.queues.map(\.name) == ["q1"] && state.queues.first?.arguments == [1, 2])
        #expect(state.bindings == [binding])
    }

    @Test(arguments: Kind.allCases) func brokerExchangesBindingArgumentsAndQueueMessages(kind: Kind) async throws {
        let harness = try Harness(kind)
        let arguments = StoredQueueCodec.encode(arguments: ["x-match": .string("any"), "n": .integer(-3)])
        let deaths = StoredQueueCodec.encode(deaths: [
            DeathRecord(queue: "q0", reason: .expired, count: 2, exchange: "x", routingKeys: ["a", "b"], time: 9)
        ])
        func stored(_ id: UInt64, _ body: String) throws -> StoredQueueMessage {
            StoredQueueMessage(
                queue: "q1", id: id, priority: 3, deadline: .max, exchange: "ex", routingKeys: ["k", "cc"],
                deaths: deaths, redelivered: id == 2, message: try Self.message("$amqp/queue", body))
        }
        try await harness.write([
            .saveExchange(
                StoredExchange(
                    name: "ex", type: "headers", autoDelete: false, internal: false,
                    alternateExchange: "alt")),
            .saveExchange(
                StoredExchange(
                    name: "gone", type: "fanout", autoDelete: true, internal: true,
                    alternateExchange: nil)),
            .saveQueue(StoredQueue(name: "q1", durable: true, exclusive: false, autoDelete: false, arguments: [])),
            .saveBinding(StoredBinding(exchange: "ex", queue: "q1", routingKey: "", arguments: arguments)),
            .saveBinding(StoredBinding(exchange: "gone", queue: "q1", routingKey: "")),
            .deleteExchange(name: "gone"),
            .saveQueueMessage(try stored(1, "one")), .saveQueueMessage(try stored(2, "two")),
            .saveQueueMessage(try stored(3, "three")), .deleteQueueMessages(queue: "q1", ids: [1, 3]),
            .saveQueueMessage(try stored(4, "four")), .saveQueueMessage(try stored(5, "five")),
            // A delivered mark (instances sharing the store); one for a message gone is nothing.
            .markQueueMessagesDelivered(queue: "q1", ids: [4, 1]), .deleteQueueMessages(queue: "q1", ids: [5]),
        ])
        var state = try harness.restart()
        #expect(
            state.exchanges == [
                StoredExchange(
                    name: "ex", type: "headers", autoDelete: false, internal: false, alternateExchange: "alt")
            ])
        #expect(state.bindings.map(\.exchange) == ["ex"])
        #expect(
            StoredQueueCodec.decodeArguments(state.bindings[0].arguments) == [
                "x-match": .string("any"), "n": .integer(-3),
            ])
        #expect(state.queueMessages.map(\.id) == [2, 4])
        #expect(state.queueMessages.map(\.redelivered) == [true, true])
        let message = try #require(state.queueMessages.first)
        #expect(message.routingKeys == ["k", "cc"] && message.redelivered && message.priority == 3)
        #expect(StoredQueueCodec.decodeDeaths(message.deaths)?.first?.count == 2)
        #expect(String(buffer: message.message.payload) == "two")
        try await harness.write([.deleteQueue(name: "q1")])
        state = try harness.restart()
        #expect(state.queueMessages.isEmpty && state.queues.isEmpty)
    }

    /// Exchange-to-exchange bindings: distinct by their arguments too, removed one by one, and with
    /// either end's exchange.
    @Test(arguments: Kind.allCases) func exchangeToExchangeBindings(kind: Kind) async throws {
        let harness = try Harness(kind)
        let any = StoredQueueCodec.encode(arguments: ["x-match": .string("any"), "k": .string("v")])
        func binding(_ source: String, _ destination: String, _ key: String, _ arguments: [UInt8] = [])
            -> StoredExchangeBinding
        {
            StoredExchangeBinding(source: source, destination: destination, routingKey: key, arguments: arguments)
        }
        try await harness.write([
            .saveExchangeBinding(binding("a", "b", "k")),
            .saveExchangeBinding(binding("a", "b", "k", any)),
            .saveExchangeBinding(binding("a", "b", "k")),  // again: still one
            .saveExchangeBinding(binding("b", "c", "#")),
            .saveExchangeBinding(binding("c", "d", "x")),
            .saveExchangeBinding(binding("d", "a", "y")),
            .deleteExchangeBinding(binding("c", "d", "x")),
        ])
        var state = try harness.restart()
        #expect(
            Set(state.exchangeBindings) == [
                binding("a", "b", "k"), binding("a", "b", "k", any), binding("b", "c", "#"), binding("d", "a", "y"),
            ])
        #expect(state.exchangeBindings.count == 4)
        try await harness.write([.deleteExchange(name: "b")])
        state = try harness.restart()
        #expect(state.exchangeBindings == [binding("d", "a", "y")])
    }

    @Test func queueCodecRefusesTruncatedValues() {
        let deaths = StoredQueueCodec.encode(deaths: [
            DeathRecord(
                queue: "q", reason: .rejected, exchange: "", routingKeys: ["r"], time: 1, originalExpiration: "5")
        ])
        #expect(StoredQueueCodec.decodeDeaths(deaths)?.first?.originalExpiration == "5")
        for length in 1..<deaths.count { #expect(StoredQueueCodec.decodeDeaths(Array(deaths[..<length])) == nil) }
        let arguments = StoredQueueCodec.encode(arguments: ["b": .bytes([1, 2]), "d": .double(1.5), "v": .void])
        for length in 1..<arguments.count {
            #expect(StoredQueueCodec.decodeArguments(Array(arguments[..<length])) == nil)
        }
    }

    @Test(arguments: Kind.allCases) func batchesCompleteInSubmissionOrder(kind: Kind) async throws {
        let harness = try Harness(kind)
        let topic = try Topic("t")
        let order = OrderRecorder()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            for offset in UInt64(1)...200 {
                harness.store.submit([
                    .appendLog(
                        topic: topic, epoch: "e", message: try! Self.message("t", "x", offset: offset, epoch: "e"),
                        keep: 1_000)
                ]) { error in
                    #expect(error == nil)
                    if order.record(offset) == 200 { done.resume() }
                }
            }
        }
        #expect(order.values == Array(1...200))
        if kind != .memory {
            // Group commit: batches submitted while a commit ran were committed together.
            #expect(harness.store.statistics.commits < 200)
            #expect(harness.store.statistics.committedWrites == 200)
        }
        #expect(try harness.restart().logs.first?.messages.count == 200)
    }

    @Test(arguments: persistent) func closedStoreRefusesWrites(kind: Kind) async throws {
        let harness = try Harness(kind)
        harness.store.close()
        let error: (any Error)? = await withCheckedContinuation { continuation in
            harness.store.submit([.deleteQueue(name: "x")]) { continuation.resume(returning: $0) }
        }
        #expect(error != nil)
        harness.store = try harness.open()
    }

    @Test func aLogWithAMissingRowIsNotIntact() async throws {
        let harness = try Harness(.sqlite)
        let topic = try Topic("t")
        try await harness.write(
            (1...3).map {
                .appendLog(
                    topic: topic, epoch: "e", message: try! Self.message("t", "\($0)", offset: $0, epoch: "e"), keep: 10
                )
            })
        harness.store.close()
        try SQLiteTestAccess.execute(path: harness.path, sql: #"DELETE FROM log_message WHERE "offset" = 2"#)
        harness.store = try SQLiteStore(path: harness.path)
        #expect(try harness.store.load().logs.first?.intact == false)
    }

    @Test func aCorruptFileIsMovedAsideAndStartsEmpty() throws {
        let path = NSTemporaryDirectory() + "corrupt-\(UUID().uuidString).sqlite"
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        let store = try SQLiteStore(path: path)
        defer { store.close() }
        #expect(try store.load().logs.isEmpty)
        let aside = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
            .filter { $0.hasPrefix((path as NSString).lastPathComponent + ".corrupt-") }
        #expect(!aside.isEmpty)
    }

    @Test func codecRejectsTruncatedRecords() throws {
        let message = BusMessage(
            topic: try Topic("a"), payload: ByteBuffer(string: "hello"),
            headers: MessageHeaders(
                contentType: "text/plain", userProperties: [UserProperty(name: "n", value: "v")],
                native: NativeProperties(protocolName: "amqp", bytes: ByteBuffer(bytes: [0x10, 0x00, 0x02]))),
            publisherID: "p", timestamp: 7)
        let encoded = StoredMessageCodec.encode(message)
        #expect(StoredMessageCodec.decode(encoded, topic: message.topic, position: nil)?.headers == message.headers)
        for length in 0..<encoded.readableBytes {
            #expect(
                StoredMessageCodec.decode(encoded.getSlice(at: 0, length: length)!, topic: message.topic, position: nil)
                    == nil)
        }
    }
}

final class OrderRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [UInt64] = []
    func record(_ value: UInt64) -> Int {
        lock.lock()
        defer { lock.unlock() }
        values.append(value)
        return values.count
    }
}
