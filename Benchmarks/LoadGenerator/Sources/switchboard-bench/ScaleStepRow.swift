import Foundation

/// One step of a scale growth curve: the cost of reaching `count` subscriptions (or connections) and
/// the publish rate measured there.
struct ScaleStepRow: Codable, Sendable {
    /// Subscriptions (scale) or subscribed connections (scale-conns) in place at this step.
    var count: Int
    /// Subscriptions or connections added by this step per second (first SUB written → last PONG).
    var addedPerSecond: Double
    /// Server RSS after this step, KiB.
    var serverRSSKilobytes: Int?
    /// (RSS now − RSS before the first step) ÷ `count`, bytes.
    var serverRSSPerItemBytes: Double?
    /// (RSS now − RSS at the previous step) ÷ items this step added, bytes: the marginal cost.
    var serverRSSMarginalBytes: Double?
    /// Messages published in the publish phase, and per second.
    var published: Int
    var publishedPerSecond: Double
    /// Deliveries received, expected (the subscribers of every subject published to), and per second.
    var delivered: Int
    var expectedDeliveries: Int
    var deliveredPerSecond: Double
    /// Publish → delivery latency over the phase.
    var latencyMicroseconds: LatencySummary?
    /// Server CPU seconds per wall second during the publish phase.
    var serverCores: Double?

    /// The growth-curve metrics of this row, flattened for Benchmarks/compare (`subs_rate_1000`, …).
    func flattened(unit: String) -> [String: Double] {
        var metrics: [String: Double] = [
            "\(unit)s_rate_\(count)": addedPerSecond,
            "published_\(count)": publishedPerSecond,
            "delivered_\(count)": deliveredPerSecond,
        ]
        if let serverRSSPerItemBytes { metrics["rss_per_\(unit)_\(count)"] = serverRSSPerItemBytes }
        if let serverRSSMarginalBytes { metrics["rss_marginal_\(unit)_\(count)"] = serverRSSMarginalBytes }
        if let latencyMicroseconds {
            metrics["p50_\(count)"] = latencyMicroseconds.p50
            metrics["p99_\(count)"] = latencyMicroseconds.p99
        }
        if let serverCores { metrics["server_cores_\(count)"] = serverCores }
        return metrics
    }

    /// The row as one text line.
    func line(unit: String) -> String {
        func number(_ value: Double?) -> String { value.map { String(format: "%.0f", $0) } ?? "–" }
        let latency = latencyMicroseconds.map { "p50 \($0.p50) p99 \($0.p99) µs" } ?? "no latency samples"
        return
            "  \(count) \(unit)s: +\(number(addedPerSecond))/s  RSS \(serverRSSKilobytes ?? 0) KiB (\(number(serverRSSPerItemBytes)) B/\(unit), marginal \(number(serverRSSMarginalBytes)) B)  pub \(number(publishedPerSecond))/s  delivered \(delivered)/\(expectedDeliveries) (\(number(deliveredPerSecond))/s)  \(latency)  server \(serverCores.map { String(format: "%.2f", $0) } ?? "–") cores"
    }
}
