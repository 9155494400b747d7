/// How much history one topic keeps. Every bound applies; the oldest messages go first.
public struct HistoryLimits: Sendable, Hashable {
    /// Most messages kept.
    public var count: Int
    /// Oldest message kept, in seconds; nil keeps messages until the count or byte bound pushes them out.
    public var maxAgeSeconds: Double?
    /// Most payload bytes kept. A default of 1 MiB per topic keeps a busy chat room's memory predictable.
    public var maxBytes: Int
    /// Kept in the durable store (survives restarts and `kill -9`), not only in memory.
    public var durable: Bool

    public init(count: Int, maxAgeSeconds: Double? = nil, maxBytes: Int = 1 << 20, durable: Bool = false) {
        self.count = max(0, count)
        self.maxAgeSeconds = maxAgeSeconds
        self.maxBytes = max(0, maxBytes)
        self.durable = durable
    }
}

/// Which topics keep history: the first rule whose filter matches wins (default: none).
public struct HistoryPolicy: Sendable {
    public struct Rule: Sendable {
        public var filter: TopicFilter
        public var limits: HistoryLimits
        public init(filter: TopicFilter, limits: HistoryLimits) {
            self.filter = filter
            self.limits = limits
        }
    }

    public var rules: [Rule]
    public init(rules: [Rule] = []) { self.rules = rules }

    public func limits(for topic: Topic) -> HistoryLimits? {
        rules.first { $0.filter.matches(topic) }?.limits
    }
}

/// Which topics track presence (default: none).
public struct PresencePolicy: Sendable {
    public var filters: [TopicFilter]
    public init(filters: [TopicFilter] = []) { self.filters = filters }
    public func isEnabled(for topic: Topic) -> Bool { filters.contains { $0.matches(topic) } }
}
