package import BusCore

/// One connection's memory of where its publishes went: (exchange, routing key) → queues, kept while the
/// broker's routing generation stays put (any declare, bind, unbind or delete moves it). A publisher
/// sends to a handful of keys, so most publishes skip the broker's lock and the exchange table; a route
/// that met a headers exchange depends on each message and is never kept. Bounded: it starts over when
/// full. Confined to its connection's loop.
package struct QueueRouteCache {
    private struct Key: Hashable {
        var exchange: String
        var routingKey: String
    }

    package static let capacity = 256
    private var generation = UInt64.max
    private var routes: [Key: [QueueHost]] = [:]

    package init() {}

    /// Routes kept now (tests check what is and is not remembered).
    package var keptRoutes: Int { routes.count }

    /// The queues a publish to `exchange` with the single `routingKey` reaches; `headers` is asked only
    /// when the route meets a headers exchange (then the answer is this message's alone, and not kept).
    package mutating func route(
        _ broker: QueueBroker, exchange: String, routingKey: String, headers: () -> [String: HeaderValue]
    ) throws(BrokerRefusal) -> [QueueHost] {
        let current = broker.generation
        if current != generation {
            routes.removeAll(keepingCapacity: true)
            generation = current
        }
        let key = Key(exchange: exchange, routingKey: routingKey)
        if let hosts = routes[key] { return hosts }
        let found = try broker.routeForCache(exchange: exchange, routingKey: routingKey, headers: headers)
        // A per-message answer, or the table changed while this was routed: use it, keep nothing.
        guard !found.needsHeaders, found.generation == generation else { return found.hosts }
        if routes.count >= Self.capacity { routes.removeAll(keepingCapacity: true) }
        routes[key] = found.hosts
        return found.hosts
    }
}
