import Metrics
import NIOConcurrencyHelpers
import RedisBus

/// The engine's part of `/metrics` (docs/operations.md, "Metrics and health"), brought up to date from
/// `RedisBusEngine.statistics` at each scrape: the numbers are the engine's own, so a scrape sees them as
/// they are (no reporting period) and nothing runs between scrapes.
final class EngineMetrics: Sendable {
    /// 1 while the instance is cut off from the others (`/readyz` 503 `degraded`), else 0.
    let degraded = Gauge(label: "switchboard_engine_degraded")
    /// Frames dropped, oldest first, from what was kept while Redis was unreachable.
    let framesLost = Counter(label: "switchboard_engine_frames_lost_total")
    /// What is kept now, to be sent when Redis is back.
    let backlogFrames = Gauge(label: "switchboard_engine_backlog_frames")
    let backlogBytes = Gauge(label: "switchboard_engine_backlog_bytes")
    /// Connections of every instance (this one's now, the others' as of their last heartbeat).
    let clusterConnections = Gauge(label: "switchboard_cluster_connections")
    /// How much of `framesLost` the counter holds already.
    private let reportedLost = NIOLockedValueBox(0)

    init() {}

    func report(_ statistics: RedisBusEngineStatistics) {
        degraded.record(statistics.degraded ? 1 : 0)
        backlogFrames.record(statistics.backlogFrames)
        backlogBytes.record(statistics.backlogBytes)
        clusterConnections.record(statistics.clusterConnections)
        let fresh = reportedLost.withLockedValue { reported -> Int in
            defer { reported = max(reported, statistics.framesLost) }
            return statistics.framesLost - reported
        }
        if fresh > 0 { framesLost.increment(by: Int64(fresh)) }
    }
}
