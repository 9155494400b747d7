package import BusCore

/// How the bus behaves. Every bound is here, with why its default is what it is.
package struct BusConfiguration: Sendable {
    /// Which topics keep history (default: none).
    package var history: HistoryPolicy
    /// Which topics track presence (default: none).
    package var presence: PresencePolicy
    /// Topic name bounds.
    package var topicLimits: TopicLimits
    /// Cached match results per event loop. 16k hot topics per loop cover any realistic working set;
    /// a miss costs one locked trie walk.
    package var matchCacheCapacity: Int
    /// Longest RPC timeout a client may ask for, in milliseconds.
    package var maxRPCTimeoutMilliseconds: Int64
    /// Most topics with a history log (each costs at least a few hundred bytes even when empty).
    package var maxHistoryTopics: Int = 100_000
    /// Most memory all history logs together may hold, estimated (payloads plus a fixed cost per message
    /// and per log): past it idle logs are evicted, least recently used first, and new topics keep no
    /// history until they fit again. 64 MiB holds 100 messages of 1 KiB on about 500 busy topics, or the
    /// empty logs of 100,000 quiet ones; the default history rule (100 messages, 2 minutes) evicts logs
    /// idle for 2 minutes long before that.
    package var maxHistoryBytes: Int = 64 << 20
    /// Most records across all collections (records are held in memory): past it a create is refused.
    package var maxRecords: Int = 1_000_000
    /// JSON Schemas publishes must satisfy, by topic filter (config key `payload_schemas`; default: none).
    package var payloadSchemas: PayloadSchemas = .none
    /// The record bytes each partition of a `file` stream keeps whole in memory, its newest records', when
    /// the stream names no bound of its own (`StreamMemoryTail.default`; config key
    /// `limits.stream_memory_tail_bytes`); the older records' bodies are read from the store. nil: every
    /// body stays. 64 MiB per partition keeps every live reader (a consumer at the end of the stream, a
    /// recovery after a drop of minutes) in memory, while a stream of many GiB costs its index alone. Freeing
    /// bodies that old costs producers some CPU (they are out of the caches by then; Benchmarks/analysis.md,
    /// "`file` streams bounded by the disk"): a tail of a few hundred KiB costs them less, its readers more.
    package var streamMemoryTailBytes: Int? = StreamMemoryTail.defaultBytes

    package init(
        history: HistoryPolicy = HistoryPolicy(), presence: PresencePolicy = PresencePolicy(),
        topicLimits: TopicLimits = .default, matchCacheCapacity: Int = 16_384,
        maxRPCTimeoutMilliseconds: Int64 = 60_000, maxHistoryTopics: Int = 100_000, maxRecords: Int = 1_000_000,
        payloadSchemas: PayloadSchemas = .none, maxHistoryBytes: Int = 64 << 20,
        streamMemoryTailBytes: Int? = StreamMemoryTail.defaultBytes
    ) {
        self.maxHistoryBytes = maxHistoryBytes
        self.streamMemoryTailBytes = streamMemoryTailBytes
        self.payloadSchemas = payloadSchemas
        self.maxHistoryTopics = maxHistoryTopics
        self.maxRecords = maxRecords
        self.history = history
        self.presence = presence
        self.topicLimits = topicLimits
        self.matchCacheCapacity = matchCacheCapacity
        self.maxRPCTimeoutMilliseconds = maxRPCTimeoutMilliseconds
    }
}

/// Errors the bus reports to frontends; each frontend maps them to its protocol's codes.
package enum BusError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A request found nobody subscribed to its topic.
    case noResponders
    /// A request got no reply in time.
    case timeout
    /// The topic keeps no history / tracks no presence.
    case notEnabled
    /// The bus is shutting down.
    case shuttingDown
    /// No stream of that name.
    case streamNotFound(String)
    /// A stream of that name exists (or is being created).
    case streamExists(String)
    /// A stream definition that cannot be a stream, and why.
    case invalidStream(String)
    /// The stream has no such partition.
    case noPartition(stream: String, partition: Int)
    /// The store did not take the change, and why.
    case notStored(String)
    /// The store could not read stream records (below a `file` stream's memory tail), and why.
    case notRead(String)

    package var description: String {
        switch self {
        case .noResponders: return "noResponders"
        case .timeout: return "timeout"
        case .notEnabled: return "notEnabled"
        case .shuttingDown: return "shuttingDown"
        case .streamNotFound(let name): return "no stream \(name)"
        case .streamExists(let name): return "stream \(name) already exists"
        case .invalidStream(let reason): return reason
        case .noPartition(let stream, let partition): return "stream \(stream) has no partition \(partition)"
        case .notStored(let reason): return "not stored: \(reason)"
        case .notRead(let reason): return "not read from the store: \(reason)"
        }
    }
}
