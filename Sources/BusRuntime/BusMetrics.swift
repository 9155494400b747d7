import Atomics
import Metrics
import NIOConcurrencyHelpers
import Storage

/// A protocol's index into the per-loop counters.
package struct ProtocolMetricsSlot: Sendable, Hashable {
    package let index: Int
}

/// One protocol's metrics, labelled `protocol="<name>"`.
package final class ProtocolCounters: Sendable {
    package let name: String
    let published: Counter
    let bytesIn: Counter
    let delivered: Counter
    let bytesOut: Counter
    let dropped: Counter
    let slowConsumers: Counter
    let refused: Counter
    let authenticationFailures: Counter
    let permissionDenied: Counter
    let tokensExpired: Counter
    private let connectionsGauge: Gauge
    private let connectionCount = ManagedAtomic<Int>(0)

    init(name: String) {
        self.name = name
        let dimensions = [("protocol", name)]
        published = Counter(label: "switchboard_messages_in_total", dimensions: dimensions)
        bytesIn = Counter(label: "switchboard_bytes_in_total", dimensions: dimensions)
        delivered = Counter(label: "switchboard_messages_out_total", dimensions: dimensions)
        bytesOut = Counter(label: "switchboard_bytes_out_total", dimensions: dimensions)
        dropped = Counter(label: "switchboard_messages_dropped_total", dimensions: dimensions)
        slowConsumers = Counter(label: "switchboard_slow_consumers_total", dimensions: dimensions)
        refused = Counter(label: "switchboard_connections_refused_total", dimensions: dimensions)
        authenticationFailures = Counter(label: "switchboard_auth_failures_total", dimensions: dimensions)
        permissionDenied = Counter(label: "switchboard_permission_denied_total", dimensions: dimensions)
        tokensExpired = Counter(label: "switchboard_tokens_expired_total", dimensions: dimensions)
        connectionsGauge = Gauge(label: "switchboard_connections", dimensions: dimensions)
        connectionsGauge.record(0)
    }

    package func connectionOpened() {
        connectionsGauge.record(connectionCount.wrappingIncrementThenLoad(ordering: .relaxed))
    }

    package func connectionClosed() {
        connectionsGauge.record(connectionCount.wrappingDecrementThenLoad(ordering: .relaxed))
    }

    /// A connection was closed or throttled for reading too slowly.
    package func countSlowConsumer() { slowConsumers.increment() }
    /// A connection was refused (limits).
    package func countRefused() { refused.increment() }
    /// Credentials were refused (bad password, invalid or expired token, none when required).
    package func countAuthenticationFailure() { authenticationFailures.increment() }
    /// A publish, subscribe, history, presence or RPC request was beyond the client's permissions.
    package func countPermissionDenied() { permissionDenied.increment() }
    /// A live connection was closed because its token expired without a refresh.
    package func countExpired() { tokensExpired.increment() }

    package var connections: Int { connectionCount.load(ordering: .relaxed) }
}

/// The bus's metrics: per-protocol counters fed from the loops' `ShardStats` once a second, and the
/// publish→deliver latency histogram.
package final class BusMetrics: Sendable {
    private let protocols = NIOLockedValueBox<[ProtocolCounters]>([])
    let deliveryLatency = Timer(label: "switchboard_delivery_latency_seconds", preferredDisplayUnit: .seconds)
    /// Durable publications refused because the store failed to commit them.
    let storeFailures = Counter(label: "switchboard_store_failures_total")
    /// The store's group commits: their duration, how many, the writes in them, and the bytes on disk.
    let storeCommitLatency = Timer(label: "switchboard_store_commit_seconds", preferredDisplayUnit: .seconds)
    let storeCommits = Counter(label: "switchboard_store_commits_total")
    /// Group commits the store could not make (a full disk, a database gone): each refused what it held.
    let storeFailedCommits = Counter(label: "switchboard_store_failed_commits_total")
    let storeWrites = Counter(label: "switchboard_store_writes_total")
    let storeDiskBytes = Gauge(label: "switchboard_store_disk_bytes")
    /// 1 while the store's last commit failed and none has succeeded since (`/healthz` says `degraded`).
    let storeDegraded = Gauge(label: "switchboard_store_degraded")
    /// Per stream: messages and bytes kept, appends (BusMetrics+Streams).
    let streams = StreamMetrics()

    /// How much of the store's statistics has been reported (commits, writes, latency samples).
    private let storeReported = NIOLockedValueBox<(commits: UInt64, writes: UInt64, samples: UInt64, failed: UInt64)>(
        (0, 0, 0, 0))

    package init() {}

    func countStoreFailure() { storeFailures.increment() }

    /// Moves the store's new commits, writes and commit durations into the metrics.
    func reportStore(_ statistics: StoreStatistics) {
        let attempts = statistics.commits + statistics.failedCommits
        let reported = storeReported.withLockedValue { reported in
            defer { reported = (statistics.commits, statistics.committedWrites, attempts, statistics.failedCommits) }
            return reported
        }
        if statistics.commits > reported.commits {
            storeCommits.increment(by: Int64(statistics.commits - reported.commits))
            storeWrites.increment(by: Int64(statistics.committedWrites - reported.writes))
        }
        if statistics.failedCommits > reported.failed {
            storeFailedCommits.increment(by: Int64(statistics.failedCommits - reported.failed))
        }
        // The store keeps a bounded window of recent commit durations: report the ones not seen yet.
        let fresh = Int(min(UInt64(statistics.recentCommitNanos.count), attempts - min(attempts, reported.samples)))
        for sample in statistics.recentCommitNanos.suffix(fresh) { storeCommitLatency.recordNanoseconds(Int64(sample)) }
        storeDiskBytes.record(Int64(statistics.diskBytes))
        storeDegraded.record(statistics.degraded == nil ? 0 : 1)
    }

    /// The slot for `name`, registering it on first use.
    package func slot(for name: String) -> ProtocolMetricsSlot {
        protocols.withLockedValue { list in
            if let index = list.firstIndex(where: { $0.name == name }) { return ProtocolMetricsSlot(index: index) }
            precondition(list.count < ShardStats.slotCount, "more protocols than ShardStats.slotCount")
            list.append(ProtocolCounters(name: name))
            return ProtocolMetricsSlot(index: list.count - 1)
        }
    }

    package func counters(_ slot: ProtocolMetricsSlot) -> ProtocolCounters {
        protocols.withLockedValue { $0[slot.index] }
    }

    package var all: [ProtocolCounters] { protocols.withLockedValue { $0 } }

    /// Moves a loop's counts into the metrics and zeroes them.
    func report(_ stats: inout ShardStats) {
        let list = all
        for (index, counters) in list.enumerated() {
            if stats.delivered[index] > 0 { counters.delivered.increment(by: stats.delivered[index]) }
            if stats.bytesOut[index] > 0 { counters.bytesOut.increment(by: stats.bytesOut[index]) }
            if stats.dropped[index] > 0 { counters.dropped.increment(by: stats.dropped[index]) }
            if stats.published[index] > 0 { counters.published.increment(by: stats.published[index]) }
            if stats.bytesIn[index] > 0 { counters.bytesIn.increment(by: stats.bytesIn[index]) }
        }
        for sample in stats.latencySamples { deliveryLatency.recordNanoseconds(sample) }
        stats = ShardStats()
    }
}
