/// How much history one topic keeps. Every bound applies; the oldest messages go first.
package struct HistoryLimits: Sendable, Hashable {
    /// Most messages kept.
    package var count: Int
    /// Oldest message kept, in seconds; nil keeps messages until the count or byte bound pushes them out.
    package var maxAgeSeconds: Double?
    /// Most payload bytes kept. A default of 1 MiB per topic keeps a busy chat room's memory predictable.
    package var maxBytes: Int
    /// Kept in the durable store (survives restarts and `kill -9`), not only in memory.
    package var durable: Bool

    package init(count: Int, maxAgeSeconds: Double? = nil, maxBytes: Int = 1 << 20, durable: Bool = false) {
        self.count = max(0, count)
        self.maxAgeSeconds = maxAgeSeconds
        self.maxBytes = max(0, maxBytes)
        self.durable = durable
    }
}

/// Which topics keep history: the first rule whose filter matches wins (default: none).
package struct HistoryPolicy: Sendable {
    package struct Rule: Sendable {
        package var filter: TopicFilter
        package var limits: HistoryLimits
        package init(filter: TopicFilter, limits: HistoryLimits) {
            self.filter = filter
            self.limits = limits
        }
    }

    package var rules: [Rule]
    package init(rules: [Rule] = []) { self.rules = rules }

    package func limits(for topic: Topic) -> HistoryLimits? {
        rules.first { $0.filter.matches(topic) }?.limits
    }

    /// Whether some rule names `topic`'s last level (so its siblings may keep other history).
    package func namesLastLevel(of topic: Topic) -> Bool {
        rules.contains { $0.filter.namesLastLevel(of: topic) }
    }
}

/// Which topics track presence (default: none).
package struct PresencePolicy: Sendable {
    package var filters: [TopicFilter]
    package init(filters: [TopicFilter] = []) { self.filters = filters }
    package func isEnabled(for topic: Topic) -> Bool { filters.contains { $0.matches(topic) } }
}
