public import NIOCore

/// Exponential reconnect delays: `initial`, doubling after each failed attempt, capped at `maximum`, back
/// to `initial` after a connection succeeds. A pure value, so its sequence is tested without a clock.
public struct RedisBackoff: Sendable, Equatable {
    public let initial: TimeAmount
    public let maximum: TimeAmount
    private var failures = 0

    public init(initial: TimeAmount, maximum: TimeAmount) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt; each call counts one failure.
    public mutating func nextDelay() -> TimeAmount {
        // 2^failures, the exponent bounded so the shift cannot overflow before the cap applies.
        let factor = Int64(1) << Int64(min(failures, 30))
        failures += 1
        let (delay, overflow) = initial.nanoseconds.multipliedReportingOverflow(by: factor)
        return overflow ? maximum : .nanoseconds(min(delay, maximum.nanoseconds))
    }

    /// A connection succeeded: the next drop starts from `initial` again.
    public mutating func reset() {
        failures = 0
    }
}
