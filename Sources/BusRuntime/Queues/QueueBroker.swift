import Atomics
package import BusCore
package import NIOConcurrencyHelpers
package import NIOCore
package import Storage

/// The broker of one virtual host (`VirtualHosts`): its exchanges and bindings (`ExchangeTable`) and its queues,
/// each a `QueueHost` at home on one event loop. Shared by AMQP and STOMP. The table and the directory of
/// queues sit behind one lock, taken for declarations and once per routed publish; queue state is never
/// under it (each queue is confined to its loop).
///
/// `amq.topic` is the bus (DESIGN.md §2): a queue bound to it is subscribed to the bus with the binding
/// key as a filter, so a publish to `amq.topic` is a bus publish and reaches MQTT, NATS, WebSocket and
/// SSE subscribers and bound queues alike; the table still records those bindings, for `mandatory` and
/// for routing through exchange-to-exchange bindings. In a virtual host other than `/`, `amq.topic` is
/// the bus below the host's topic prefix (`VirtualHostDefinition`).
package final class QueueBroker: @unchecked Sendable {
    /// The bus exchange.
    package static let busExchange = "amq.topic"

    package let bus: Bus
    package let metricsSlot: ProtocolMetricsSlot
    /// The virtual host's name.
    package let virtualHost: String
    /// Where `amq.topic` meets the bus: nil for the bus root, else the topic its routing keys hang under.
    package let topicPrefix: String?
    let lock = NIOLock()
    // Guarded by `lock`.
    var table: ExchangeTable
    var hosts: [String: QueueHost] = [:]
    /// Moves on with every change of exchanges, bindings or queues (under `lock`): a `QueueRouteCache`
    /// keeps its routes only while it stays put.
    private let generationCounter = ManagedAtomic<UInt64>(0)
    /// Consumer ids, unique across every protocol's consumers (queues key their consumers by it).
    private let nextConsumerID = ManagedAtomic<UInt64>(1)
    /// The last id `forwardedID` handed out (QueueBroker+Sharing.swift).
    let lastForwardedID = NIOLockedValueBox<UInt64>(0)

    package init(bus: Bus, metricsSlot: ProtocolMetricsSlot, virtualHost: String = "/", topicPrefix: String? = nil) {
        self.bus = bus
        self.metricsSlot = metricsSlot
        self.virtualHost = virtualHost
        self.topicPrefix = topicPrefix
        self.table = ExchangeTable(vhost: virtualHost)
    }

    // MARK: - amq.topic ⇄ the bus

    /// The bus topic a concrete `amq.topic` routing key publishes to; nil for the empty key.
    package func busTopicName(forRoutingKey key: String) -> String? {
        Self.busTopicName(forRoutingKey: key, topicPrefix: topicPrefix)
    }

    /// The bus topic a concrete `amq.topic` routing key publishes to in a virtual host whose `amq.topic`
    /// hangs under `topicPrefix` (nil: the bus root); nil for the empty key.
    package static func busTopicName(forRoutingKey key: String, topicPrefix: String?) -> String? {
        guard let name = RoutingKeyMapping.topicName(forRoutingKey: key) else { return nil }
        guard let topicPrefix else { return name }
        return topicPrefix + "/" + name
    }

    /// The bus filter an `amq.topic` binding key subscribes with (`RoutingKeyMapping.filterText`).
    package func busFilterText(forBindingKey key: String) -> (filter: String, exact: Bool)? {
        guard let mapped = RoutingKeyMapping.filterText(forBindingKey: key) else { return nil }
        guard let topicPrefix else { return mapped }
        return (topicPrefix + "/" + mapped.filter, mapped.exact)
    }

    /// The routing key a bus topic reaches this virtual host's `amq.topic` with; nil for a topic outside
    /// the host's prefix (or the prefix itself: no key names it).
    package func routingKey(forTopic topic: String) -> String? {
        Self.routingKey(forTopic: topic, topicPrefix: topicPrefix)
    }

    /// The routing key a bus topic reaches the `amq.topic` of a virtual host under `topicPrefix` with
    /// (the inverse of `busTopicName(forRoutingKey:topicPrefix:)`); nil outside the prefix.
    package static func routingKey(forTopic topic: String, topicPrefix: String?) -> String? {
        guard let topicPrefix else { return RoutingKeyMapping.routingKey(forTopic: topic) }
        let bytes = topic.utf8
        let prefix = topicPrefix.utf8
        guard bytes.count > prefix.count + 1, bytes.starts(with: prefix),
            bytes[bytes.index(bytes.startIndex, offsetBy: prefix.count)] == UInt8(ascii: "/")
        else { return nil }
        return RoutingKeyMapping.routingKey(forTopic: String(topic.dropFirst(topicPrefix.count + 1)))
    }

    /// A resource's name in the store (`StoredResourceName`).
    package func storedName(_ name: String) -> String {
        StoredResourceName.make(name, in: virtualHost)
    }

    /// A consumer id no other consumer of any queue has.
    package func makeConsumerID() -> QueueConsumerID {
        QueueConsumerID(nextConsumerID.loadThenWrappingIncrement(ordering: .relaxed))
    }

    // MARK: - Exchanges

    /// `exchange.declare`: whether it was created (refusals: 403 reserved names, 406 inequivalent). A
    /// durable one is stored.
    @discardableResult
    package func declareExchange(_ definition: ExchangeDefinition) throws(BrokerRefusal) -> Bool {
        let created = try withTable { table throws(BrokerRefusal) in try table.declare(definition) }
        if created && definition.durable {
            write(
                .saveExchange(
                    StoredExchange(
                        name: storedName(definition.name), type: definition.type.rawValue,
                        autoDelete: definition.autoDelete,
                        internal: definition.internal, alternateExchange: definition.alternateExchange)))
        }
        return created
    }

    /// `exchange.declare` passive: the exchange or 404.
    package func existingExchange(_ name: String) throws(BrokerRefusal) -> ExchangeDefinition {
        try withTable { table throws(BrokerRefusal) in try table.declarePassive(name) }
    }

    /// `exchange.delete`.
    package func deleteExchange(_ name: String, ifUnused: Bool) throws(BrokerRefusal) {
        let gone = try withTable { table throws(BrokerRefusal) in
            let existed = table.exchange(name) != nil
            return try (existed ? [name] : []) + table.delete(exchange: name, ifUnused: ifUnused)
        }
        for exchange in gone { write(.deleteExchange(name: storedName(exchange))) }
    }

    /// `exchange.bind` / `exchange.unbind` (and the table's half of `queue.bind` / `queue.unbind`). A
    /// binding between two durable exchanges is stored, as RabbitMQ keeps it; auto-delete exchanges that
    /// went with their last binding leave the store too.
    package func bindExchange(_ binding: ExchangeBinding, unbind: Bool = false) throws(BrokerRefusal) {
        let (gone, durable) = try withTable { table throws(BrokerRefusal) -> ([String], Bool) in
            var gone: [String] = []
            if unbind { gone = try table.unbind(binding) } else { try table.bind(binding) }
            guard case .exchange(let destination) = binding.destination else { return (gone, false) }
            let durable =
                (table.exchange(binding.source)?.durable ?? false) && (table.exchange(destination)?.durable ?? false)
            return (gone, durable)
        }
        if durable, case .exchange(let destination) = binding.destination {
            let stored = StoredExchangeBinding(
                source: storedName(binding.source), destination: storedName(destination),
                routingKey: binding.routingKey,
                arguments: StoredQueueCodec.encode(arguments: binding.arguments))
            write(unbind ? .deleteExchangeBinding(stored) : .saveExchangeBinding(stored))
        }
        for exchange in gone { write(.deleteExchange(name: storedName(exchange))) }
    }

    // MARK: - Queues

    /// A queue as declared: its flags and arguments.
    package struct QueueDeclaration: Sendable {
        package var name: String
        package var durable: Bool
        package var exclusive: Bool
        package var autoDelete: Bool
        package var arguments: QueueArguments
        /// The declare's argument table as received (a redeclare must match it).
        package var declaredArguments: [String: HeaderValue]

        package init(
            name: String, durable: Bool = false, exclusive: Bool = false, autoDelete: Bool = false,
            arguments: QueueArguments = QueueArguments(), declaredArguments: [String: HeaderValue] = [:]
        ) {
            self.name = name
            self.durable = durable
            self.exclusive = exclusive
            self.autoDelete = autoDelete
            self.arguments = arguments
            self.declaredArguments = declaredArguments
        }
    }

    /// `queue.declare`: the queue, made on `loop` for connection `owner` unless it exists (then it must be
    /// equivalent, 406, and not another connection's exclusive queue, 405). `created` says which.
    package func declareQueue(_ declaration: QueueDeclaration, owner: String, on loop: any EventLoop)
        throws(BrokerRefusal) -> (host: QueueHost, created: Bool)
    {
        try locked { () throws(BrokerRefusal) -> (host: QueueHost, created: Bool) in
            if let existing = hosts[declaration.name] {
                try Self.checkAccess(existing, owner: owner)
                try Self.checkEquivalence(existing, declaration)
                return (existing, false)
            }
            let host = QueueHost(
                name: declaration.name, eventLoop: loop, durable: declaration.durable,
                exclusiveOwner: declaration.exclusive ? owner : nil, autoDelete: declaration.autoDelete,
                arguments: declaration.arguments, declaredArguments: declaration.declaredArguments, broker: self,
                metricsSlot: metricsSlot, clock: bus.clock)
            hosts[declaration.name] = host
            table.addQueue(declaration.name)
            changed()
            if declaration.durable && !declaration.exclusive {
                write(
                    .saveQueue(
                        StoredQueue(
                            name: storedName(declaration.name), durable: true, exclusive: false,
                            autoDelete: declaration.autoDelete,
                            arguments: StoredQueueCodec.encode(arguments: declaration.declaredArguments))))
            }
            return (host, true)
        }
    }

    /// The queue named `name` as connection `owner` may use it: 404 when there is none, 405 when it is
    /// another connection's exclusive queue.
    package func queue(_ name: String, owner: String) throws(BrokerRefusal) -> QueueHost {
        let host = lock.withLock { hosts[name] }
        guard let host else { throw BrokerRefusal(.notFound, "no queue '\(name)' in vhost '\(virtualHost)'") }
        try Self.checkAccess(host, owner: owner)
        return host
    }

    /// The queue named `name`, whoever may use it.
    func host(named name: String) -> QueueHost? {
        lock.withLock { hosts[name] }
    }

    /// Every queue, by name (for the admin API and metrics).
    package var queues: [QueueHost] {
        lock.withLock { hosts.values.sorted { $0.name < $1.name } }
    }

    /// The exclusive queues of a connection (deleted when it closes).
    package func queues(ownedBy owner: String) -> [QueueHost] {
        lock.withLock { hosts.values.filter { $0.exclusiveOwner == owner } }
    }

    /// A deleted queue leaves the directory and the table (called by the host, on its loop).
    func forget(_ host: QueueHost, stored: Bool = true) {
        let gone: [String]? = lock.withLock {
            guard hosts[host.name] === host else { return nil }
            hosts[host.name] = nil
            defer { changed() }
            return table.removeQueue(host.name)
        }
        // Deleted by another instance sharing the store: it wrote the deletions.
        guard let gone, stored else { return }
        if host.durable { write(.deleteQueue(name: storedName(host.name))) }
        for exchange in gone { write(.deleteExchange(name: storedName(exchange))) }
    }

    /// `queue.bind` / `queue.unbind` of `host` to `exchange` with `key`. A binding to `amq.topic` also
    /// subscribes the queue to the bus (or ends that subscription), as `viewer` (the binder, to record
    /// collections' view rules; nil: an admin).
    package func bindQueue(
        _ host: QueueHost, exchange: String, key: String, arguments: [String: HeaderValue] = [:], unbind: Bool = false,
        viewer: RecordViewer?
    ) throws(BrokerRefusal) {
        let binding = ExchangeBinding(
            source: exchange, destination: .queue(host.name), routingKey: key, arguments: arguments)
        try bindExchange(binding, unbind: unbind)
        if host.durable, lock.withLock({ table.exchange(exchange)?.durable ?? false }) {
            let stored = StoredBinding(
                exchange: storedName(exchange), queue: storedName(host.name), routingKey: key,
                arguments: StoredQueueCodec.encode(arguments: arguments))
            write(unbind ? .deleteBinding(stored) : .saveBinding(stored))
        }
        guard exchange == Self.busExchange else { return }
        host.perform { host in
            if unbind { host.removeBusBinding(key) } else { host.addBusBinding(key, viewer: viewer) }
        }
    }

    // MARK: - Routing

    /// The queues a publish to `exchange` reaches (404 no exchange, 403 internal). `headers` is asked
    /// only when a headers exchange is met.
    package func route(
        exchange: String, routingKeys: [String], headers: () -> [String: HeaderValue] = { [:] }
    ) throws(BrokerRefusal) -> [QueueHost] {
        try locked { () throws(BrokerRefusal) -> [QueueHost] in
            let route = try table.route(exchange: exchange, routingKeys: routingKeys, messageHeaders: headers)
            if route.queues.count == 1 { return hosts[route.queues[0]].map { [$0] } ?? [] }
            return route.queues.compactMap { hosts[$0] }
        }
    }

    /// The routing table's generation: routes found at one generation hold until it moves.
    package var generation: UInt64 { generationCounter.load(ordering: .acquiring) }

    /// `route` for one routing key that also says whether the answer depended on the message's headers (a
    /// headers exchange was met), and the generation it was found at: an answer that did not may be kept
    /// until the generation moves.
    package func routeForCache(
        exchange: String, routingKey: String, headers: () -> [String: HeaderValue]
    ) throws(BrokerRefusal) -> (hosts: [QueueHost], generation: UInt64, needsHeaders: Bool) {
        var askedForHeaders = false
        return try locked { () throws(BrokerRefusal) -> (hosts: [QueueHost], generation: UInt64, needsHeaders: Bool) in
            let route = try table.route(exchange: exchange, routingKeys: [routingKey]) {
                askedForHeaders = true
                return headers()
            }
            let found = route.queues.compactMap { hosts[$0] }
            return (found, generationCounter.load(ordering: .relaxed), askedForHeaders)
        }
    }

    /// Whether `exchange` routes `routingKeys` to no queue at all (`mandatory` → `basic.return`).
    package func isUnroutable(
        exchange: String, routingKeys: [String], headers: () -> [String: HeaderValue] = { [:] }
    ) -> Bool {
        lock.withLock {
            (try? table.route(exchange: exchange, routingKeys: routingKeys, messageHeaders: headers))?.isUnroutable
                ?? true
        }
    }

    /// Dead letters of `host` (on its loop): each goes to its dead-letter exchange with its routing keys
    /// and one more `x-death` entry; a message that would die again in a queue it already died in for a
    /// reason other than a rejection is dropped (RabbitMQ's cycle rule), as is one without an exchange.
    func deadLetter(_ letters: [DeadLetter<BrokeredMessage>], from host: QueueHost, now: UInt64) {
        for letter in letters {
            guard let exchange = letter.exchange else { continue }
            var message = letter.message.payload
            message.deaths = DeathRecord.recording(letter.deathRecord(time: now), into: message.deaths)
            let publication = QueuePublication(
                message: message, bytes: letter.message.bytes, priority: letter.message.priority,
                persistent: letter.message.persistent, exchange: exchange, routingKeys: letter.routingKeys)
            guard let targets = try? route(exchange: exchange, routingKeys: letter.routingKeys) else { continue }
            let cyclic = !message.deaths.contains { $0.reason == .rejected }
            for target in targets where !(cyclic && message.deaths.dropFirst().contains { $0.queue == target.name }) {
                target.perform { $0.enqueue([publication]) }
            }
        }
    }

    // MARK: - The store

    /// One change of durable broker state, in submission order (a declare-ok goes out before it is
    /// durable, as RabbitMQ's does; a confirmed message is stored after its queue).
    private func write(_ change: StoreWrite) {
        guard let store = bus.store else { return }
        guard let sharing = store.sessionOwnership else { return store.submit([change]) }
        // Other instances sharing the store learn of it once it commits (`VirtualHosts`); a deletion says
        // what went, since reading the tables again only shows what is there.
        let slot = "\(sharing.instanceSlot)"
        let payload = QueueTopologyDeletion(change)?.payload(slot: slot) ?? slot
        store.submit([change, .notify(channel: Self.topologyChannel, payload: payload)])
    }

    /// Rebuilds this virtual host's durable exchanges, queues (spread over the bus's loops), bindings and
    /// persistent messages from the store, before any connection. A queue whose arguments no longer pass
    /// the rules is skipped; other virtual hosts' rows are left to their brokers (or, for a virtual host no
    /// longer configured, kept in the store until it is again).
    package func restore(_ stored: StoredState) -> (exchanges: Int, queues: Int, messages: Int) {
        let state = Self.rows(of: virtualHost, in: stored)
        let loops = bus.shards.map(\.eventLoop)
        var restored = (exchanges: 0, queues: 0, messages: 0)
        var messages: [String: [StoredQueueMessage]] = [:]
        for message in state.queueMessages { messages[message.queue, default: []].append(message) }
        var busBindings: [(QueueHost, String)] = []
        lock.withLock {
            defer { changed() }
            for exchange in state.exchanges {
                guard let type = ExchangeType(rawValue: exchange.type) else { continue }
                if (try? table.declare(
                    ExchangeDefinition(
                        name: exchange.name, type: type, durable: true, autoDelete: exchange.autoDelete,
                        internal: exchange.internal, alternateExchange: exchange.alternateExchange))) == true
                {
                    restored.exchanges += 1
                }
            }
            for (index, stored) in state.queues.enumerated() where stored.durable && !stored.exclusive {
                let declared = StoredQueueCodec.decodeArguments(stored.arguments) ?? [:]
                guard hosts[stored.name] == nil,
                    let arguments = try? QueueArguments(declared: declared, queue: stored.name, vhost: virtualHost)
                else { continue }
                let host = QueueHost(
                    name: stored.name, eventLoop: loops[index % loops.count], durable: true, exclusiveOwner: nil,
                    autoDelete: stored.autoDelete, arguments: arguments, declaredArguments: declared, broker: self,
                    metricsSlot: metricsSlot, clock: bus.clock)
                hosts[stored.name] = host
                table.addQueue(stored.name)
                restored.queues += 1
                // A queue several instances share is read fresh by the instance that claims it.
                guard host.sharing == nil else { continue }
                let kept = messages[stored.name] ?? []
                restored.messages += kept.count
                host.perform { $0.restore(kept) }
            }
            for binding in state.bindings {
                guard let host = hosts[binding.queue] else { continue }
                let arguments = StoredQueueCodec.decodeArguments(binding.arguments) ?? [:]
                guard
                    (try? table.bind(
                        ExchangeBinding(
                            source: binding.exchange, destination: .queue(binding.queue),
                            routingKey: binding.routingKey,
                            arguments: arguments))) != nil
                else { continue }
                if binding.exchange == Self.busExchange { busBindings.append((host, binding.routingKey)) }
            }
            for binding in state.exchangeBindings {
                _ = try? table.bind(
                    ExchangeBinding(
                        source: binding.source, destination: .exchange(binding.destination),
                        routingKey: binding.routingKey,
                        arguments: StoredQueueCodec.decodeArguments(binding.arguments) ?? [:]))
            }
        }
        // Who bound them is not stored: a restored binding is a guest to record view rules until bound again.
        for (host, key) in busBindings { host.perform { $0.addBusBinding(key, viewer: .guest) } }
        return restored
    }

    /// The rows of `virtualHost` in `state`, under their names in the virtual host.
    private static func rows(of virtualHost: String, in state: StoredState) -> StoredState {
        func local(_ stored: String) -> String? {
            let (host, name) = StoredResourceName.split(stored)
            return host == virtualHost ? name : nil
        }
        /// The rows whose every named resource is in the virtual host, renamed.
        func renamed<Row>(_ rows: [Row], _ names: WritableKeyPath<Row, String>...) -> [Row] {
            rows.compactMap { row in
                var row = row
                for name in names {
                    guard let local = local(row[keyPath: name]) else { return nil }
                    row[keyPath: name] = local
                }
                return row
            }
        }
        var rows = state
        rows.exchanges = renamed(state.exchanges, \.name)
        rows.queues = renamed(state.queues, \.name)
        rows.queueMessages = renamed(state.queueMessages, \.queue)
        rows.bindings = renamed(state.bindings, \.exchange, \.queue)
        rows.exchangeBindings = renamed(state.exchangeBindings, \.source, \.destination)
        return rows
    }

    // MARK: - Checks

    private func withTable<Result>(_ body: (inout ExchangeTable) throws(BrokerRefusal) -> Result) throws(BrokerRefusal)
        -> Result
    {
        try locked { () throws(BrokerRefusal) -> Result in
            defer { changed() }
            return try body(&table)
        }
    }

    /// Notes a change of the table or the directory (under `lock`).
    func changed() {
        generationCounter.wrappingIncrement(ordering: .releasing)
    }

    /// `lock.withLock` keeping the refusal's type.
    private func locked<Result>(_ body: () throws(BrokerRefusal) -> Result) throws(BrokerRefusal) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private static func checkAccess(_ host: QueueHost, owner: String) throws(BrokerRefusal) {
        if let holder = host.exclusiveOwner, holder != owner {
            throw BrokerRefusal(
                .resourceLocked,
                "cannot obtain exclusive access to locked queue '\(host.name)' in vhost '\(host.virtualHost)'. It could be "
                    + "originally declared on another connection or the exclusive property value does not "
                    + "match that of the original declaration.")
        }
    }

    private static func checkEquivalence(_ host: QueueHost, _ declaration: QueueDeclaration) throws(BrokerRefusal) {
        func inequivalent(_ field: String, _ received: String, _ current: String) -> BrokerRefusal {
            BrokerRefusal(
                .preconditionFailed,
                "inequivalent arg '\(field)' for queue '\(host.name)' in vhost '\(host.virtualHost)': received '\(received)' "
                    + "but current is '\(current)'")
        }
        if host.durable != declaration.durable {
            throw inequivalent("durable", "\(declaration.durable)", "\(host.durable)")
        }
        if host.autoDelete != declaration.autoDelete {
            throw inequivalent("auto_delete", "\(declaration.autoDelete)", "\(host.autoDelete)")
        }
        for key in Set(host.declaredArguments.keys).union(declaration.declaredArguments.keys).sorted() {
            let current = host.declaredArguments[key]
            let received = declaration.declaredArguments[key]
            if current != received {
                throw BrokerRefusal(
                    .preconditionFailed,
                    "inequivalent arg '\(key)' for queue '\(host.name)' in vhost '\(host.virtualHost)': received "
                        + "\(Self.describe(received)) but current is \(Self.describe(current))")
            }
        }
    }

    private static func describe(_ value: HeaderValue?) -> String {
        switch value {
        case nil: "none"
        case .string(let text): "the value '\(text)' of type 'longstr'"
        case .integer(let number): "the value '\(number)' of type 'long'"
        case .bool(let flag): "the value '\(flag)' of type 'bool'"
        case .double(let number): "the value '\(number)' of type 'double'"
        case .bytes(let bytes): "the value '\(bytes)' of type 'binary'"
        case .void: "the value 'void' of type 'void'"
        case .other(let text): "the value '\(text)'"
        }
    }
}
