/// One entry of a message's `x-death` history: how often it died in one queue for one reason, and where
/// it had been published the first time. The AMQP layer encodes the list as the `x-death` array of tables
/// (with `time` in seconds); the rules for updating it live here.
package struct DeathRecord: Sendable, Equatable {
    /// `queue`: where it died.
    package var queue: String
    /// `reason`.
    package var reason: DeadLetterReason
    /// `count`: deaths in this queue for this reason.
    package var count: Int64
    /// `exchange`: where it had been published before that first death.
    package var exchange: String
    /// `routing-keys`: what it had been published with before that first death.
    package var routingKeys: [String]
    /// `time` of the first such death (ns).
    package var time: UInt64
    /// `original-expiration`: the message's own `expiration`, which dead-lettering removes (the caller
    /// fills it in; the queue does not parse properties).
    package var originalExpiration: String?

    package init(
        queue: String, reason: DeadLetterReason, count: Int64 = 1, exchange: String, routingKeys: [String],
        time: UInt64, originalExpiration: String? = nil
    ) {
        self.queue = queue
        self.reason = reason
        self.count = count
        self.exchange = exchange
        self.routingKeys = routingKeys
        self.time = time
        self.originalExpiration = originalExpiration
    }

    /// `history` (most recent first) after one more `death`, as RabbitMQ updates `x-death`: an entry with
    /// the same queue and reason has its count raised by the new death's count and moves to the front,
    /// keeping its first exchange, routing keys and time; otherwise the death is prepended.
    package static func recording(_ death: DeathRecord, into history: [DeathRecord]) -> [DeathRecord] {
        var result = history
        if let index = result.firstIndex(where: { $0.queue == death.queue && $0.reason == death.reason }) {
            var merged = result.remove(at: index)
            merged.count += death.count
            result.insert(merged, at: 0)
        } else {
            result.insert(death, at: 0)
        }
        return result
    }
}
