/// How an exchange picks destinations from a publish (AMQP 0-9-1 §3.1.3).
package enum ExchangeType: String, Sendable, Hashable {
    /// Bindings whose key equals the routing key.
    case direct
    /// Every binding.
    case fanout
    /// Bindings whose key pattern matches the routing key: `.`-separated words, `*` one word, `#` zero or more.
    case topic
    /// Bindings whose arguments match the message headers (`x-match`).
    case headers
}
