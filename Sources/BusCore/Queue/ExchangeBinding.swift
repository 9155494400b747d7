/// A binding from a source exchange to a queue or another exchange, with its routing key (a topic pattern
/// for topic exchanges) and arguments (`x-match` and the headers to match for headers exchanges). Bindings
/// that differ in any part are distinct, as in RabbitMQ.
package struct ExchangeBinding: Sendable, Hashable {
    package var source: String
    package var destination: ExchangeDestination
    package var routingKey: String
    package var arguments: [String: HeaderValue]

    package init(
        source: String, destination: ExchangeDestination, routingKey: String = "",
        arguments: [String: HeaderValue] = [:]
    ) {
        self.source = source
        self.destination = destination
        self.routingKey = routingKey
        self.arguments = arguments
    }
}

/// Where a binding leads.
package enum ExchangeDestination: Sendable, Hashable {
    /// A queue, by name (`queue.bind`).
    case queue(String)
    /// An exchange, by name (`exchange.bind`): routing continues there.
    case exchange(String)
}
