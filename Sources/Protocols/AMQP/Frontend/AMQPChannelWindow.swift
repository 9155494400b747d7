import Atomics

/// `basic.qos` with `global` set: one window of unacknowledged deliveries shared by all of a channel's
/// consumers, across their queues (RabbitMQ's reading with `per_consumer_qos`). Queues on other loops ask
/// it as they dispatch, so it is atomic: a queue takes one unit per delivery (`take`), the channel gives
/// units back as deliveries are settled (`give`). Deliveries to no-ack consumers do not count.
final class AMQPChannelWindow: Sendable {
    /// Most unacknowledged deliveries at once; 0 is no window.
    private let limit = ManagedAtomic(0)
    private let used = ManagedAtomic(0)
    /// A queue was refused since the last `give`: the channel's consumers' queues dispatch again then.
    private let starved = ManagedAtomic(false)

    /// Sets the window (`basic.qos` global); 0 removes it.
    func setLimit(_ count: Int) {
        limit.store(count, ordering: .relaxed)
    }

    /// Takes one unit for a delivery; false when the window is full.
    func take() -> Bool {
        while true {
            let current = used.load(ordering: .relaxed)
            let window = limit.load(ordering: .relaxed)
            if window > 0 && current >= window {
                starved.store(true, ordering: .relaxed)
                return false
            }
            if used.compareExchange(expected: current, desired: current + 1, ordering: .relaxed).exchanged {
                return true
            }
        }
    }

    /// Gives back `count` units; true when a queue was refused meanwhile (its dispatch should resume).
    func give(_ count: Int) -> Bool {
        guard count > 0 else { return false }
        used.wrappingDecrement(by: count, ordering: .relaxed)
        return starved.exchange(false, ordering: .relaxed)
    }
}
