import Atomics
import Histogram
import NIOCore

/// The counters and latency histogram of the connections on one event loop.
///
/// Every counter has a single writer (the loop's thread) and is read by the coordinating thread
/// while the run is in progress, so it is an atomic updated with a relaxed load + store (no
/// read-modify-write, no contention). The histogram is confined to the loop and only read after
/// the run via ``LoopStatsSet/mergedLatency()``.
final class LoopStats: @unchecked Sendable {
    /// The loop whose connections write these numbers.
    let loop: any EventLoop
    /// Connections whose protocol handshake finished.
    let ready = ManagedAtomic<Int>(0)
    /// Subscriptions the server confirmed.
    let subscribed = ManagedAtomic<Int>(0)
    /// Messages written by publishers.
    let sent = ManagedAtomic<Int>(0)
    /// Messages received by subscribers.
    let delivered = ManagedAtomic<Int>(0)
    /// Monotonic time of the most recent delivery.
    let lastDeliveryAt = ManagedAtomic<UInt64>(0)
    /// Publishers that sent everything and got their final acknowledgement.
    let publishersDone = ManagedAtomic<Int>(0)
    /// Monotonic time the most recent publisher finished.
    let lastPublisherDoneAt = ManagedAtomic<UInt64>(0)
    /// Connections that closed (churn counts completed cycles with this).
    let closed = ManagedAtomic<Int>(0)
    /// Errors: failed connects, error replies, protocol errors.
    let errors = ManagedAtomic<Int>(0)
    /// Latency samples in nanoseconds (delivery latency, or connect latency for churn).
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    /// The most recent error text, for the report.
    var lastError: String?

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// Adds `amount` to a single-writer counter (call only on ``loop``).
    @inline(__always)
    func bump(_ counter: ManagedAtomic<Int>, by amount: Int = 1) {
        counter.store(counter.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Records an error seen on this loop.
    func recordError(_ message: String) {
        bump(errors)
        lastError = message
    }
}

/// One ``LoopStats`` per event loop of the group, plus totals for the coordinating thread.
struct LoopStatsSet: Sendable {
    /// The stats, one per loop, in the group's order.
    let all: [LoopStats]

    init(group: any EventLoopGroup) {
        all = group.makeIterator().map { LoopStats(loop: $0) }
    }

    /// The stats of the `index`-th connection when connections are spread round-robin.
    func forConnection(_ index: Int) -> LoopStats { all[index % all.count] }

    /// Sum of one counter over all loops.
    func total(_ counter: KeyPath<LoopStats, ManagedAtomic<Int>>) -> Int {
        all.reduce(0) { $0 + $1[keyPath: counter].load(ordering: .relaxed) }
    }

    /// Latest value of a timestamp over all loops.
    func latest(_ timestamp: KeyPath<LoopStats, ManagedAtomic<UInt64>>) -> UInt64 {
        all.map { $0[keyPath: timestamp].load(ordering: .relaxed) }.max() ?? 0
    }

    /// The merged latency histogram, read on each loop.
    func mergedLatency() throws -> Histogram<UInt64> {
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for stats in all {
            let histogram = try stats.loop.submit { stats.latency }.wait()
            merged.add(histogram)
        }
        return merged
    }

    /// The last error text seen on any loop.
    func lastError() throws -> String? {
        try all.compactMap { stats in try stats.loop.submit { stats.lastError }.wait() }.last
    }
}
