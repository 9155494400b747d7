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
    /// The log is made only once a client that can resume from a position follows the topic (a WebSocket,
    /// SSE, long-poll, Socket.IO or SignalR subscription) or reads its history, not by a publish: a topic
    /// only NATS and MQTT clients use (neither resumes from a log position) keeps none and pays nothing.
    /// The default rule is so (issue 25); configured rules keep every publish.
    package var onDemand: Bool

    package init(
        count: Int, maxAgeSeconds: Double? = nil, maxBytes: Int = 1 << 20, durable: Bool = false,
        onDemand: Bool = false
    ) {
        self.count = max(0, count)
        self.maxAgeSeconds = maxAgeSeconds
        self.maxBytes = max(0, maxBytes)
        self.durable = durable
        self.onDemand = onDemand
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

/// Which topics track presence (default: none): `filters` keep a list of who is subscribed (presence
/// queries answer), `eventFilters` also announce each join and leave to the topic's subscribers. Lists
/// cost one locked dictionary entry per subscription; events cost a delivery to every subscriber per
/// join — O(n²) to fill a topic of n subscribers — so a server may list everywhere and announce only
/// where clients want the events (Centrifugo's `presence` and `join_leave`).
package struct PresencePolicy: Sendable {
    package var filters: [TopicFilter]
    /// The topics whose joins and leaves are announced (each is also listed).
    package var eventFilters: [TopicFilter]

    /// `filters` are listed and announced, as every presence filter used to be.
    package init(filters: [TopicFilter] = []) {
        self.filters = filters
        self.eventFilters = filters
    }

    /// `listed` keep presence lists; `announced` also announce joins and leaves.
    package init(listed: [TopicFilter], announced: [TopicFilter]) {
        self.filters = listed + announced
        self.eventFilters = announced
    }

    package func isEnabled(for topic: Topic) -> Bool { filters.contains { $0.matches(topic) } }
    /// Whether joins and leaves on `topic` are announced to its subscribers.
    package func announces(_ topic: Topic) -> Bool { eventFilters.contains { $0.matches(topic) } }
}
