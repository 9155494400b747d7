import BusCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storage
import Testing

@testable import BusRuntime

/// The queue runtime across real event loops: a queue on one loop, its publisher and consumer on the
/// other; `amq.topic` bindings as bus subscriptions; durable queues in the store and back.
@Suite struct QueueBrokerTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    /// A consumer that records what it got, on its loop.
    final class Sink: QueueConsumerSink, @unchecked Sendable {
        let eventLoop: any EventLoop
        private let received = NIOLockedValueBox<[String]>([])
        private let cancelled = NIOLockedValueBox(false)
        let accepting = NIOLockedValueBox(true)
        init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }
        var acceptsDeliveries: Bool { accepting.withLockedValue { $0 } }
        func deliver(_ delivery: QueueDelivery<BrokeredMessage>, from host: QueueHost) {
            eventLoop.preconditionInEventLoop()
            let body = String(buffer: delivery.message.payload.message.payload)
            received.withLockedValue { $0.append(body) }
            let id = delivery.message.id
            host.perform { $0.ack([id]) }
        }
        func flushQueueDeliveries() {}
        func queueCancelled(_ consumer: QueueConsumerID, host: QueueHost) { cancelled.withLockedValue { $0 = true } }
        var owner: QueueConsumerOwner { QueueConsumerOwner(protocolName: "test", connectionID: "c") }
        var bodies: [String] { received.withLockedValue { $0 } }
        var wasCancelled: Bool { cancelled.withLockedValue { $0 } }
    }

    static func publication(_ body: String, persistent: Bool = false) -> QueuePublication {
        let message = BusMessage(topic: Topic(trusted: "$amqp/queue"), payload: ByteBuffer(string: body), timestamp: 0)
        return QueuePublication(
            message: BrokeredMessage(message: message), bytes: body.utf8.count, persistent: persistent, exchange: "",
            routingKeys: ["q"])
    }

    @Test func publishesFromAnotherLoopReachAConsumerInOrder() async throws {
        let bus = Bus(eventLoops: loops)
        let broker = QueueBroker(bus: bus, metricsSlot: bus.metrics.slot(for: "amqp"))
        let (host, created) = try broker.declareQueue(.init(name: "q"), owner: "c1", on: loops[1])
        #expect(created)
        let sink = Sink(eventLoop: loops[0])
        try await loops[1].submit {
            try host.addConsumer(QueueConsumer(id: QueueConsumerID(1), prefetch: 10), sink: sink)
        }.get()
        try await loops[0].submit {
            let targets = try broker.route(exchange: "", routingKeys: ["q"])
            #expect(targets.map(\.name) == ["q"])
            for index in 0..<500 { targets[0].perform { $0.enqueue([Self.publication("\(index)")]) } }
        }.get()
        #expect(await eventually { sink.bodies.count == 500 })
        #expect(sink.bodies == (0..<500).map { "\($0)" })
        #expect(try await loops[1].submit { host.unackedCount + host.readyCount }.get() == 0)
    }

    @Test func amqTopicBindingsAreBusSubscriptions() async throws {
        let bus = Bus(eventLoops: loops)
        let broker = QueueBroker(bus: bus, metricsSlot: bus.metrics.slot(for: "amqp"))
        let (host, _) = try broker.declareQueue(.init(name: "sensors"), owner: "c1", on: loops[1])
        try broker.bindQueue(host, exchange: "amq.topic", key: "room.*.temp", viewer: nil)
        try broker.bindQueue(host, exchange: "amq.topic", key: "room.#", viewer: nil)  // overlapping: still one copy
        // Approximated, then checked.
        try broker.bindQueue(host, exchange: "amq.topic", key: "alerts.#.fire", viewer: nil)
        let sink = Sink(eventLoop: loops[1])
        #expect(await eventually { bus.registry.count == 3 })
        try await loops[1].submit { try host.addConsumer(QueueConsumer(id: QueueConsumerID(1)), sink: sink) }.get()
        try await loops[0].submit {
            for topic in ["room/a/temp", "alerts/eu/fire", "alerts/eu/smoke"] {
                bus.publish(
                    BusMessage(topic: try! Topic(topic), payload: ByteBuffer(string: topic), timestamp: 0), on: loops[0]
                )
            }
        }.get()
        #expect(await eventually { sink.bodies.count == 2 })
        try await Task.sleep(for: .milliseconds(100))
        #expect(sink.bodies == ["room/a/temp", "alerts/eu/fire"])
    }

    /// A connection's route cache answers as the broker does: across binds, unbinds and deletes (each
    /// moves the generation), and never from memory for a headers exchange, whose answer is per message.
    @Test func theRouteCacheFollowsEveryChangeOfTheTable() throws {
        let bus = Bus(eventLoops: loops)
        let broker = QueueBroker(bus: bus, metricsSlot: bus.metrics.slot(for: "amqp"))
        var cache = QueueRouteCache()
        func cached(_ exchange: String, _ key: String, _ headers: [String: HeaderValue] = [:]) throws -> [String] {
            try cache.route(broker, exchange: exchange, routingKey: key, headers: { headers }).map(\.name)
        }
        try broker.declareExchange(ExchangeDefinition(name: "ex", type: .direct, durable: false))
        let (a, _) = try broker.declareQueue(.init(name: "a"), owner: "c1", on: loops[0])
        #expect(try cached("ex", "k") == [])
        try broker.bindQueue(a, exchange: "ex", key: "k", viewer: nil)
        #expect(try cached("ex", "k") == ["a"])
        #expect(cache.keptRoutes == 1)  // remembered: the next publish skips the broker
        #expect(try cached("ex", "k") == ["a"])
        #expect(cache.keptRoutes == 1)
        let (b, _) = try broker.declareQueue(.init(name: "b"), owner: "c1", on: loops[0])
        try broker.bindQueue(b, exchange: "ex", key: "k", viewer: nil)
        #expect(try cached("ex", "k") == ["a", "b"])
        try broker.bindQueue(a, exchange: "ex", key: "k", unbind: true, viewer: nil)
        #expect(try cached("ex", "k") == ["b"])
        _ = try b.delete(ifUnused: false, ifEmpty: false)
        #expect(try cached("ex", "k") == [])
        #expect(try cached("", "a") == ["a"])
        #expect(throws: BrokerRefusal.self) { try cached("nowhere", "k") }

        try broker.bindQueue(
            a, exchange: "amq.headers", key: "", arguments: ["x-match": .string("all"), "kind": .string("x")],
            viewer: nil)
        #expect(try cached("amq.headers", "", ["kind": .string("x")]) == ["a"])
        #expect(try cached("amq.headers", "", ["kind": .string("y")]) == [])
        #expect(try cached("amq.headers", "", ["kind": .string("x")]) == ["a"])
        #expect(cache.keptRoutes == 0)  // the bind emptied it; a per-message answer is never kept
    }

    @Test func deletingAQueueCancelsItsConsumersAndUnbindsIt() async throws {
        let bus = Bus(eventLoops: loops)
        let broker = QueueBroker(bus: bus, metricsSlot: bus.metrics.slot(for: "amqp"))
        let (host, _) = try broker.declareQueue(.init(name: "gone"), owner: "c1", on: loops[0])
        try broker.bindQueue(host, exchange: "amq.topic", key: "x", viewer: nil)
        let sink = Sink(eventLoop: loops[1])
        try await loops[0].submit { try host.addConsumer(QueueConsumer(id: QueueConsumerID(1)), sink: sink) }.get()
        let count = try await loops[0].submit { try host.delete(ifUnused: false, ifEmpty: false) }.get()
        #expect(count == 0)
        #expect(await eventually { sink.wasCancelled })
        #expect(throws: BrokerRefusal.self) { try broker.queue("gone", owner: "c1") }
        #expect(await eventually { bus.registry.count == 0 })
    }

    /// A binding between two durable exchanges survives a restart and routes again; one with a transient
    /// end is not kept, and an unbind is.
    @Test func exchangeToExchangeBindingsOfDurableExchangesComeBack() async throws {
        let store = MemoryStore()
        do {
            let bus = Bus(eventLoops: loops, store: store)
            let broker = QueueBroker(bus: bus, metricsSlot: bus.metrics.slot(for: "amqp"))
            try broker.declareExchange(ExchangeDefinition(name: "in", type: .topic))
            try broker.declareExchange(ExchangeDefinition(name: "out", type: .fanout))
            try broker.declareExchange(ExchangeDefinition(name: "brief", type: .fanout, durable: false))
            try broker.declareExchange(ExchangeDefinition(name: "old", type: .fanout))
            let (queue, _) = try broker.declareQueue(.init(name: "kept", durable: true), owner: "c1", on: loops[0])
            try broker.bindQueue(queue, exchange: "out", key: "", viewer: nil)
            try broker.bindExchange(ExchangeBinding(source: "in", destination: .exchange("out"), routingKey: "a.*"))
            try broker.bindExchange(ExchangeBinding(source: "in", destination: .exchange("brief"), routingKey: "#"))
            try broker.bindExchange(ExchangeBinding(source: "in", destination: .exchange("old"), routingKey: "#"))
            try broker.bindExchange(
                ExchangeBinding(source: "in", destination: .exchange("old"), routingKey: "#"), unbind: true)
            #expect(await eventually { (try? store.load().exchangeBindings.count) == 1 })
        }
        let bus = Bus(eventLoops: loops, store: store)
        let broker = QueueBroker(bus: bus, metricsSlot: bus.metrics.slot(for: "amqp"))
        let restored = broker.restore(try store.load())
        #expect(restored.exchanges == 3 && restored.queues == 1)
        #expect(try broker.route(exchange: "in", routingKeys: ["a.b"]).map(\.name) == ["kept"])
        #expect(try broker.route(exchange: "in", routingKeys: ["b.c"]).isEmpty)
    }

    @Test func durableQueuesAndPersistentMessagesComeBackFromTheStore() async throws {
        let store = MemoryStore()
        do {
            let bus = Bus(eventLoops: loops, store: store)
            let broker = QueueBroker(bus: bus, metricsSlot: bus.metrics.slot(for: "amqp"))
            let (host, _) = try broker.declareQueue(
                .init(name: "orders", durable: true, declaredArguments: ["x-max-priority": .integer(5)]), owner: "c1",
                on: loops[0])
            try broker.bindQueue(host, exchange: "amq.direct", key: "orders", viewer: nil)
            let stored = try await loops[0].submit {
                let promise = loops[0].makePromise(of: [Bool].self)
                host.enqueue([Self.publication("kept", persistent: true), Self.publication("transient")]) {
                    promise.succeed($0)
                }
                return promise.futureResult
            }.get().get()
            #expect(stored == [true, true])
        }
        let state = try store.load()
        #expect(state.queues.map(\.name) == ["orders"] && state.queueMessages.count == 1)
        let bus = Bus(eventLoops: loops, store: store)
        let broker = QueueBroker(bus: bus, metricsSlot: bus.metrics.slot(for: "amqp"))
        let restored = broker.restore(state)
        #expect(restored.queues == 1 && restored.messages == 1)
        #expect(
            state.queues.first.flatMap { StoredQueueCodec.decodeArguments($0.arguments) } == [
                "x-max-priority": .integer(5)
            ])
        #expect(try broker.route(exchange: "amq.direct", routingKeys: ["orders"]).map(\.name) == ["orders"])
        let host = try broker.queue("orders", owner: "c2")
        let got = try await host.eventLoop.submit { host.get(autoAck: true)?.message?.payload.message.payload }.get()
        #expect(got.map { String(buffer: $0) } == "kept")
        #expect(
            await eventually { (try? store.load().queueMessages.isEmpty) == true }, "an auto-acked get leaves the store"
        )
    }
}

/// Virtual hosts: one broker each, `amq.topic` below the host's topic prefix, names qualified in the store.
@Suite struct VirtualHostBrokerTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    @Test func storedNamesReadBackOneWay() {
        for (host, name) in [("/", "q"), ("/", "\u{1F}odd"), ("tenant-a", "q"), ("/prod", "a\u{1F}b"), ("t", "")] {
            let stored = StoredResourceName.make(name, in: host)
            #expect(StoredResourceName.split(stored) == (host, name))
        }
        #expect(StoredResourceName.make("q", in: "/") == "q")  // stores written before virtual hosts read on
    }

    @Test func amqTopicHangsBelowThePrefix() {
        let bus = Bus(eventLoops: [group.next()])
        let hosts = VirtualHosts(
            bus: bus, metricsSlot: bus.metrics.slot(for: "queues"),
            definitions: [VirtualHostDefinition(name: "tenant-a", topicPrefix: "tenants/a")])
        let tenant = try! #require(hosts.broker("tenant-a"))
        #expect(hosts.broker("nope") == nil && hosts.all.map { $0.virtualHost } == ["/", "tenant-a"])
        #expect(tenant.busTopicName(forRoutingKey: "x.y") == "tenants/a/x/y")
        #expect(tenant.busFilterText(forBindingKey: "x.*")?.filter == "tenants/a/x/+")
        #expect(tenant.routingKey(forTopic: "tenants/a/x/y") == "x.y")
        #expect(tenant.routingKey(forTopic: "tenants/ab/x") == nil)
        #expect(tenant.routingKey(forTopic: "tenants/a") == nil)
        #expect(hosts.root.routingKey(forTopic: "tenants/a/x") == "tenants.a.x")
    }

    @Test func eachBrokerRestoresOnlyItsOwnRows() throws {
        let bus = Bus(eventLoops: [group.next()])
        let hosts = VirtualHosts(
            bus: bus, metricsSlot: bus.metrics.slot(for: "queues"),
            definitions: [VirtualHostDefinition(name: "tenant-a", topicPrefix: "tenant-a")])
        var state = StoredState()
        for host in ["/", "tenant-a", "gone"] {
            state.queues.append(
                StoredQueue(
                    name: StoredResourceName.make("q", in: host), durable: true, exclusive: false, autoDelete: false,
                    arguments: StoredQueueCodec.encode(arguments: [:])))
        }
        #expect(hosts.root.restore(state).queues == 1)
        #expect(hosts.broker("tenant-a")?.restore(state).queues == 1)
        #expect(hosts.root.queues.map { $0.name } == ["q"] && hosts.broker("tenant-a")?.queues.map { $0.name } == ["q"])
        #expect(hosts.broker("tenant-a")?.queues.first?.virtualHost == "tenant-a")
    }
}
