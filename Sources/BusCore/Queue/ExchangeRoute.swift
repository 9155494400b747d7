/// Where a publish goes: the queues to enqueue it on, each once, sorted by name (RabbitMQ's `usort`).
package struct ExchangeRoute: Sendable, Equatable {
    package var queues: [String]

    package init(queues: [String]) {
        self.queues = queues
    }

    /// No queue at all: a `mandatory` publish comes back (`basic.return` 312 NO_ROUTE).
    package var isUnroutable: Bool { queues.isEmpty }
}

extension ExchangeTable {
    /// The queues a message published to `exchange` with `routingKey` reaches (see `route(exchange:
    /// routingKeys:messageHeaders:)`).
    package func route(
        exchange: String, routingKey: String, messageHeaders: () -> [String: HeaderValue] = { [:] }
    ) throws(BrokerRefusal) -> ExchangeRoute {
        try route(exchange: exchange, routingKeys: [routingKey], messageHeaders: messageHeaders)
    }

    /// The queues a message published to `exchange` with `routingKeys` (the routing key, then `CC` and
    /// `BCC`) reaches: through the exchange's bindings, on through exchange-to-exchange bindings, and to an
    /// exchange's alternate exchange when that exchange itself matched no binding. Each exchange is visited
    /// once, so cycles end. `messageHeaders` is asked only when a headers exchange is met (the AMQP layer
    /// converts its field table only then; once per headers exchange on the way). Refused when the exchange does not exist (404) or is
    /// internal (403).
    package func route(
        exchange name: String, routingKeys: [String], messageHeaders: () -> [String: HeaderValue] = { [:] }
    ) throws(BrokerRefusal) -> ExchangeRoute {
        guard let start = exchanges[name] else { throw notFound(.exchange(name)) }
        if start.definition.internal {
            throw BrokerRefusal(.accessRefused, "cannot publish to internal \(resource(.exchange(name)))")
        }
        var destinations: [ExchangeDestination] = []
        destinationsOf(start, name, routingKeys, messageHeaders, into: &destinations)
        // The common publish: one exchange, queues only.
        if !destinations.contains(where: { if case .exchange = $0 { true } else { false } }) {
            if destinations.count == 1, case .queue(let queue) = destinations[0] {
                return ExchangeRoute(queues: [queue])
            }
            let queues = Set(destinations.lazy.compactMap { if case .queue(let queue) = $0 { queue } else { nil } })
            return ExchangeRoute(queues: queues.sorted())
        }
        var queues: Set<String> = []
        var seen: Set<String> = [name]
        var pending: [String] = []
        while true {
            for destination in destinations {
                switch destination {
                case .queue(let queue): queues.insert(queue)
                case .exchange(let next):
                    if exchanges[next] != nil && seen.insert(next).inserted { pending.append(next) }
                }
            }
            guard let next = pending.popLast() else { break }
            destinations.removeAll(keepingCapacity: true)
            destinationsOf(exchanges[next]!, next, routingKeys, messageHeaders, into: &destinations)
        }
        return ExchangeRoute(queues: queues.sorted())
    }

    /// One exchange's own destinations for a publish; its alternate exchange when it has none.
    private func destinationsOf(
        _ exchange: Exchange, _ name: String, _ routingKeys: [String], _ headers: () -> [String: HeaderValue],
        into destinations: inout [ExchangeDestination]
    ) {
        if name.isEmpty {
            // The default exchange: the queue named by the routing key.
            for key in routingKeys where queues.contains(key) { destinations.append(.queue(key)) }
        } else {
            exchange.bindings.route(routingKeys, messageHeaders: headers, into: &destinations)
        }
        if destinations.isEmpty, let alternate = exchange.definition.alternateExchange {
            destinations.append(.exchange(alternate))
        }
    }
}
