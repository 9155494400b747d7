/// What a stream is: its name, the bus filters whose publishes it captures, how it is split into
/// partitions, what it keeps and where (DESIGN.md §1, stream). Kafka topics and JetStream streams are
/// made from one of these by their frontends; the config file's `streams` and `/api/streams` too.
package struct StreamConfiguration: Sendable, Equatable {
    /// Unique among streams; `[A-Za-z0-9._-]`, at most `maxNameLength` characters (the characters
    /// Kafka topic names and JetStream stream names both accept, so either frontend can name any stream).
    package var name: String
    /// Every bus publish whose topic one of these matches is appended (once, however many match).
    /// Shared filters (`$share/…`) are refused: a stream captures every message, not one member's share.
    package var filters: [TopicFilter]
    /// How many partitions (≥ 1, at most `maxPartitions`); fixed once the stream exists.
    package var partitions: Int
    package var limits: StreamLimits
    package var retention: StreamRetention
    package var storage: StreamStorage
    /// How many of a `file` stream's newest records each partition keeps whole in memory; the older ones
    /// are kept as their index entries, their bodies read from the store (docs/storage.md, "Streams").
    /// A `memory` stream keeps every record.
    package var memoryTail: StreamMemoryTail

    /// Longest stream name (Kafka's topic name limit).
    package static let maxNameLength = 249
    /// Most partitions of one stream (each is a lock and a sequence in memory, and rows in the store).
    package static let maxPartitions = 1024

    package init(
        name: String, filters: [TopicFilter], partitions: Int = 1, limits: StreamLimits = StreamLimits(),
        retention: StreamRetention = .limits, storage: StreamStorage = .file, memoryTail: StreamMemoryTail = .default
    ) {
        self.name = name
        self.filters = filters
        self.partitions = partitions
        self.limits = limits
        self.retention = retention
        self.storage = storage
        self.memoryTail = memoryTail
    }

    /// Why this configuration cannot be a stream, or nil when it can.
    package var problem: String? {
        if name.isEmpty || name.utf8.count > Self.maxNameLength {
            return "a stream name has 1 to \(Self.maxNameLength) characters"
        }
        if !name.utf8.allSatisfy(Self.isNameByte) || name == "." || name == ".." {
            return "a stream name is made of letters, digits, '.', '_' and '-'"
        }
        if !(1...Self.maxPartitions).contains(partitions) {
            return "partitions must be between 1 and \(Self.maxPartitions)"
        }
        if filters.contains(where: { $0.shareGroup != nil }) { return "a stream cannot capture a shared filter" }
        for (value, label) in [
            (limits.maxMessages, "max_messages"), (limits.maxBytes, "max_bytes"),
            (limits.maxMessageSize, "max_message_size"), (limits.maxMessagesPerSubject, "max_messages_per_subject"),
        ] {
            if let value, value <= 0 { return "\(label) must be positive (or absent for no limit)" }
        }
        if case .bytes(let bytes) = memoryTail, bytes < 0 { return "memory_tail_bytes must not be negative" }
        return nil
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}

/// When a stream lets a message go. Only `limits` is enforced today; the JetStream frontend gives the
/// other two their meaning (they keep by limits until it does).
package enum StreamRetention: String, Sendable, Equatable, CaseIterable {
    /// Kept until a limit (count, bytes, age, per subject) removes it: Kafka's retention, JetStream's default.
    case limits
    /// Kept while a consumer is interested (JetStream `interest`).
    case interest
    /// Kept until one consumer acknowledges it (JetStream `workqueue`).
    case workQueue = "workqueue"
}

/// Where a stream keeps its messages.
package enum StreamStorage: String, Sendable, Equatable, CaseIterable {
    /// In the durable store (SQLite, PostgreSQL): an append is acknowledged once committed, and the
    /// stream comes back after a restart with its epochs and offsets.
    case file
    /// In memory only: acknowledged at once; after a restart the definition comes back, empty, each
    /// partition in a new epoch (so no consumer resumes into a log that is not the one it read).
    case memory
}

/// How much of a `file` stream's newest records each partition keeps whole in memory (config key
/// `memory_tail_bytes`): bodies of older records are read from the store, their index entries (offset,
/// subject, sizes, time: what the limits, purges and subject scans need) stay in memory.
package enum StreamMemoryTail: Sendable, Equatable {
    /// The server's bound (`limits.stream_memory_tail_bytes`, 64 MiB unless configured).
    case `default`
    /// The newest records up to this many record bytes (subject, headers and payload) per partition.
    case bytes(Int)
    /// Every record, as a `memory` stream keeps them.
    case all

    /// The server's bound when none is configured: 64 MiB of records per partition.
    package static let defaultBytes = 64 << 20

    /// As the stores keep it: NULL for the default, -1 for every record, else the bytes.
    package var storedValue: Int? {
        switch self {
        case .default: return nil
        case .bytes(let bytes): return bytes
        case .all: return -1
        }
    }

    /// Back from the stored column (NULL: the default; -1: every record).
    package init(storedValue: Int?) {
        switch storedValue {
        case nil: self = .default
        case let value? where value < 0: self = .all
        case let value?: self = .bytes(value)
        }
    }
}
