/// On Redis Cluster, the newest frame number delivered per sending instance and topic (docs/redis.md,
/// "Redis Cluster", "Once, in order"). A message may reach an instance on two routes — its topic's shard
/// channel and the instance's inbox — each in the sender's order; delivering only a frame past the newest
/// delivered of its sender and topic delivers the first copy, drops its twin, and never lets a message
/// overtake an earlier one of its topic. Entries live in two generations: `rotate()` (every 30 s) drops
/// those unused for a whole generation, far longer than a twin can lag behind its first copy.
struct RedisTopicSequences {
    private var current: [String: UInt64] = [:]
    private var previous: [String: UInt64] = [:]

    /// Whether frame `sequence` of `instance` to `topic` is to be delivered (and, if so, notes it).
    mutating func isFresh(instance: String, topic: String, sequence: UInt64) -> Bool {
        let key = instance + "\u{1F}" + topic
        let newest = current[key] ?? previous[key] ?? 0
        guard sequence > newest else { return false }
        current[key] = sequence
        return true
    }

    /// Starts a new generation; entries not used since the last rotation go.
    mutating func rotate() {
        previous = current
        current = [:]
    }

    /// How many entries are kept (both generations).
    var count: Int { current.count + previous.count }
}
