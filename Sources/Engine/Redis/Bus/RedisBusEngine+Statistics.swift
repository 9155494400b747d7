import NIOConcurrencyHelpers

/// What `/metrics` reports of the engine (docs/operations.md, "Metrics and health"): whether the instance
/// is cut off from the others, what it keeps meanwhile and what it dropped, and the connections of every
/// instance as their heartbeats announce them.
package struct RedisBusEngineStatistics: Sendable, Equatable {
    /// Redis (or, on a cluster, a primary) is unreachable: `/readyz` says `degraded`.
    package var degraded: Bool
    /// Frames dropped, oldest first, from what was kept while Redis was unreachable (beyond
    /// `maxBacklogBytes`), since the start.
    package var framesLost: Int
    /// What is kept now, to be sent when Redis is back.
    package var backlogFrames: Int
    package var backlogBytes: Int
    /// The connections of this instance and of the others heard from (each as of its last heartbeat, so
    /// up to one heartbeat old; an instance silent for three heartbeats no longer counts).
    package var clusterConnections: Int

    package init(degraded: Bool, framesLost: Int, backlogFrames: Int, backlogBytes: Int, clusterConnections: Int) {
        self.degraded = degraded
        self.framesLost = framesLost
        self.backlogFrames = backlogFrames
        self.backlogBytes = backlogBytes
        self.clusterConnections = clusterConnections
    }
}

extension RedisBusEngine {
    /// The bound of what is kept while Redis is unreachable, unless configured (`engine_max_backlog_bytes`).
    package static let defaultMaxBacklogBytes = 64 << 20

    package var statistics: RedisBusEngineStatistics {
        let local = connectionCount()
        return lock.withLockedValue { pending in
            RedisBusEngineStatistics(
                degraded: pending.down != nil || pending.primariesDown != nil, framesLost: pending.framesLost,
                backlogFrames: pending.backlogFrames, backlogBytes: pending.backlogBytes,
                clusterConnections: pending.peers.values.reduce(local) { $0 + ($1 ?? 0) })
        }
    }

    /// The other instances heard from lately (a heartbeat within the last three), sorted: the ones the admin
    /// API asks for their part of a cluster-wide answer (docs/redis.md, "The admin API across instances").
    package var peerInstances: [String] {
        lock.withLockedValue { $0.peers.keys.sorted() }
    }
}
