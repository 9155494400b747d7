/// One virtual host's exchanges, the queue names they can route to, and the bindings between them, with
/// RabbitMQ's rules: the default exchange and the predeclared `amq.*` exchanges, equivalence on
/// redeclare, `if-unused` deletes, auto-delete, exchange-to-exchange bindings and alternate exchanges.
/// `route` turns a publish into the set of queues to enqueue it on. Used by AMQP 0-9-1 and STOMP's
/// `/exchange/` destinations.
///
/// Pure value (STYLE.md habit 4): the owner keeps queue names in step (`addQueue`, `removeQueue`) and
/// persists durable exchanges and bindings itself. Refusals are thrown as `BrokerRefusal` with RabbitMQ's
/// reply texts.
package struct ExchangeTable: Sendable, Equatable {
    /// An exchange and the bindings it is the source of.
    struct Exchange: Sendable, Equatable {
        var definition: ExchangeDefinition
        var bindings: ExchangeBindings
    }

    /// The exchanges that exist from the start and cannot be deleted, with their types.
    package static let predeclared: [(name: String, type: ExchangeType)] = [
        ("", .direct), ("amq.direct", .direct), ("amq.fanout", .fanout), ("amq.topic", .topic),
        ("amq.headers", .headers), ("amq.match", .headers),
    ]

    /// The virtual host, for refusal texts.
    package let vhost: String
    var exchanges: [String: Exchange] = [:]
    /// Queue names the default exchange and bindings may lead to.
    package private(set) var queues: Set<String> = []
    /// Bindings by destination, for deleting a queue or exchange with everything bound to it.
    private var bindingsTo: [ExchangeDestination: Set<ExchangeBinding>] = [:]

    package init(vhost: String = "/") {
        self.vhost = vhost
        for (name, type) in Self.predeclared {
            let definition = ExchangeDefinition(name: name, type: type, durable: true)
            exchanges[name] = Exchange(definition: definition, bindings: ExchangeBindings(type: type))
        }
    }

    // MARK: - Exchanges

    /// The exchange named `name`, if it exists.
    package func exchange(_ name: String) -> ExchangeDefinition? { exchanges[name]?.definition }

    /// Every exchange, by name.
    package var exchangeNames: [String] { exchanges.keys.sorted() }

    /// `exchange.declare`: creates the exchange, or checks that the existing one is equivalent. Returns
    /// whether it was created. Refused for the default exchange, a new `amq.` name (403) and an
    /// inequivalent redeclare (406).
    @discardableResult
    package mutating func declare(_ definition: ExchangeDefinition) throws(BrokerRefusal) -> Bool {
        try refuseDefault(definition.name)
        if let existing = exchanges[definition.name]?.definition {
            try checkEquivalence(existing, definition)
            return false
        }
        if definition.name.hasPrefix("amq.") {
            throw BrokerRefusal(
                .accessRefused, "exchange name '\(definition.name)' contains reserved prefix 'amq.*'")
        }
        exchanges[definition.name] = Exchange(
            definition: definition, bindings: ExchangeBindings(type: definition.type))
        return true
    }

    /// `exchange.declare` with `passive`: the exchange, or 404 when it does not exist.
    package func declarePassive(_ name: String) throws(BrokerRefusal) -> ExchangeDefinition {
        try refuseDefault(name)
        guard let existing = exchanges[name] else { throw notFound(.exchange(name)) }
        return existing.definition
    }

    /// `exchange.delete`: removes the exchange and every binding from or to it. Deleting one that does not
    /// exist succeeds (RabbitMQ since 3.2). Refused for the default and `amq.*` exchanges (403) and, with
    /// `ifUnused`, while it is the source of a binding (406). Returns the auto-delete exchanges that went
    /// with it, having lost their last binding.
    package mutating func delete(exchange name: String, ifUnused: Bool = false) throws(BrokerRefusal) -> [String] {
        try refuseDefault(name)
        if name.hasPrefix("amq.") {
            throw BrokerRefusal(.accessRefused, "deletion of system \(resource(.exchange(name))) not allowed")
        }
        guard let existing = exchanges[name] else { return [] }
        if ifUnused && !existing.bindings.isEmpty {
            throw BrokerRefusal(.preconditionFailed, "\(resource(.exchange(name))) in use")
        }
        var deleted: [String] = []
        removeExchange(name, deleted: &deleted)
        return deleted.filter { $0 != name }
    }

    // MARK: - Queues

    /// Makes a queue known: the default exchange routes to it, bindings may lead to it.
    package mutating func addQueue(_ name: String) {
        queues.insert(name)
    }

    /// Forgets a deleted queue and every binding to it. Returns the auto-delete exchanges that went,
    /// having lost their last binding.
    @discardableResult
    package mutating func removeQueue(_ name: String) -> [String] {
        queues.remove(name)
        var deleted: [String] = []
        removeBindings(to: .queue(name), deleted: &deleted)
        return deleted
    }

    // MARK: - Bindings

    /// `queue.bind` / `exchange.bind`. Binding what is already bound changes nothing. Refused when the
    /// default exchange takes part (403), the source or destination does not exist (404), or a headers
    /// binding's `x-match` is invalid (406).
    package mutating func bind(_ binding: ExchangeBinding) throws(BrokerRefusal) {
        try refuseDefault(binding.source)
        if case .exchange(let destination) = binding.destination { try refuseDefault(destination) }
        guard exchanges[binding.source] != nil else { throw notFound(.exchange(binding.source)) }
        guard exists(binding.destination) else { throw notFound(binding.destination) }
        if try exchanges[binding.source]!.bindings.insert(binding) {
            bindingsTo[binding.destination, default: []].insert(binding)
        }
    }

    /// `queue.unbind` / `exchange.unbind`. Unbinding what is not bound succeeds (RabbitMQ since 3.2).
    /// Refused only when the default exchange takes part (403). Returns the auto-delete exchanges that
    /// went, having lost their last binding.
    @discardableResult
    package mutating func unbind(_ binding: ExchangeBinding) throws(BrokerRefusal) -> [String] {
        try refuseDefault(binding.source)
        if case .exchange(let destination) = binding.destination { try refuseDefault(destination) }
        guard exchanges[binding.source]?.bindings.remove(binding) == true else { return [] }
        bindingsTo[binding.destination]?.remove(binding)
        if bindingsTo[binding.destination]?.isEmpty == true { bindingsTo[binding.destination] = nil }
        var deleted: [String] = []
        autoDeleteIfUnbound(binding.source, deleted: &deleted)
        return deleted
    }

    /// The bindings whose source is `exchange`.
    package func bindings(from exchange: String) -> Set<ExchangeBinding> { exchanges[exchange]?.bindings.all ?? [] }

    /// The bindings that lead to `destination`.
    package func bindings(to destination: ExchangeDestination) -> Set<ExchangeBinding> {
        bindingsTo[destination] ?? []
    }

    // MARK: - Internals

    private func exists(_ destination: ExchangeDestination) -> Bool {
        switch destination {
        case .queue(let name): queues.contains(name)
        case .exchange(let name): exchanges[name] != nil
        }
    }

    func resource(_ destination: ExchangeDestination) -> String {
        switch destination {
        case .queue(let name): BrokerRefusal.resource("queue", name, vhost: vhost)
        case .exchange(let name): BrokerRefusal.resource("exchange", name, vhost: vhost)
        }
    }

    func notFound(_ destination: ExchangeDestination) -> BrokerRefusal {
        BrokerRefusal(.notFound, "no \(resource(destination))")
    }

    private func refuseDefault(_ name: String) throws(BrokerRefusal) {
        if name.isEmpty { throw BrokerRefusal(.accessRefused, "operation not permitted on the default exchange") }
    }

    /// RabbitMQ's `assert_equivalence`: type, durable, auto_delete, internal, then `alternate-exchange`.
    private func checkEquivalence(_ current: ExchangeDefinition, _ received: ExchangeDefinition) throws(BrokerRefusal) {
        let name = resource(.exchange(current.name))
        func fail(_ argument: String, _ new: String, _ old: String) -> BrokerRefusal {
            BrokerRefusal(
                .preconditionFailed, "inequivalent arg '\(argument)' for \(name): received \(new) but current is \(old)"
            )
        }
        if current.type != received.type { throw fail("type", "'\(received.type)'", "'\(current.type)'") }
        if current.durable != received.durable {
            throw fail("durable", "'\(received.durable)'", "'\(current.durable)'")
        }
        if current.autoDelete != received.autoDelete {
            throw fail("auto_delete", "'\(received.autoDelete)'", "'\(current.autoDelete)'")
        }
        if current.internal != received.internal {
            throw fail("internal", "'\(received.internal)'", "'\(current.internal)'")
        }
        if current.alternateExchange != received.alternateExchange {
            func value(_ name: String?) -> String { name.map { "the value '\($0)' of type 'longstr'" } ?? "none" }
            throw fail("alternate-exchange", value(received.alternateExchange), value(current.alternateExchange))
        }
    }

    /// Deletes an exchange and its bindings both ways, cascading auto-deletes; appends every exchange gone.
    private mutating func removeExchange(_ name: String, deleted: inout [String]) {
        guard let exchange = exchanges.removeValue(forKey: name) else { return }
        deleted.append(name)
        for binding in exchange.bindings.all {
            bindingsTo[binding.destination]?.remove(binding)
            if bindingsTo[binding.destination]?.isEmpty == true { bindingsTo[binding.destination] = nil }
        }
        removeBindings(to: .exchange(name), deleted: &deleted)
    }

    /// Removes every binding to `destination`, then auto-deletes the sources left without bindings.
    private mutating func removeBindings(to destination: ExchangeDestination, deleted: inout [String]) {
        guard let bindings = bindingsTo.removeValue(forKey: destination) else { return }
        for binding in bindings { exchanges[binding.source]?.bindings.remove(binding) }
        for source in Set(bindings.map(\.source)).sorted() { autoDeleteIfUnbound(source, deleted: &deleted) }
    }

    private mutating func autoDeleteIfUnbound(_ name: String, deleted: inout [String]) {
        guard let exchange = exchanges[name], exchange.definition.autoDelete, exchange.bindings.isEmpty else { return }
        removeExchange(name, deleted: &deleted)
    }
}
