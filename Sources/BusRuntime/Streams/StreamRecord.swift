package import BusCore

/// One message kept in a stream partition: the bus message (its topic is the record's subject) and the
/// key it was partitioned by (Kafka's record key; nil for publishes from protocols without keys).
package struct StreamRecord: Sendable {
    package let message: BusMessage
    package let key: [UInt8]?
}

/// A record read from a stream partition, with its place.
package struct StreamReadRecord: Sendable {
    package var partition: Int
    package var offset: UInt64
    /// When it was appended (ns since the Unix epoch, never decreasing within a partition).
    package var time: UInt64
    package var record: StreamRecord
}

/// How a publish is placed in streams beyond "every capturing stream, partitioned by key or subject":
/// what the Kafka REST and JetStream frontends say about a record.
package struct StreamPlacement: Sendable {
    /// Partitioned by Kafka's murmur2 of these bytes (`KafkaPartitioner`), as a Kafka producer would.
    package var key: [UInt8]?
    /// This partition, not the key's or the subject's (Kafka REST `POST /topics/{t}/partitions/{p}`); it
    /// applies to `stream` (or to every stream when `stream` is nil) and is refused when out of range.
    package var partition: Int?
    /// Also (or only: when no stream captures the topic) append to this stream, by name.
    package var stream: String?
    /// JetStream's `Nats-Msg-Id`: a repeat within the stream's duplicate window is not stored again.
    package var messageID: String?

    package init(key: [UInt8]? = nil, partition: Int? = nil, stream: String? = nil, messageID: String? = nil) {
        self.key = key
        self.partition = partition
        self.stream = stream
        self.messageID = messageID
    }
}

/// One stream's answer to an append: given only once the record is stored (a `file` stream: committed
/// by the store), or at once when it is refused or kept in memory.
package struct StreamAppendAck: Sendable, Equatable, CustomStringConvertible {
    package enum Outcome: Sendable, Equatable {
        /// Stored at `offset`.
        case stored
        /// The message id was seen within the duplicate window: `offset` is the first copy's.
        case duplicate
        /// Not stored: a limit (`StreamAppendRefusal`'s raw value), a partition out of range, or a store
        /// failure, said in words.
        case refused(String)
    }

    package var stream: String
    package var partition: Int
    /// 0 when refused.
    package var offset: UInt64
    package var epoch: String
    package var outcome: Outcome

    package var description: String {
        switch outcome {
        case .stored: return "\(stream)[\(partition)]@\(offset)"
        case .duplicate: return "\(stream)[\(partition)]@\(offset) (duplicate)"
        case .refused(let reason): return "\(stream)[\(partition)] refused: \(reason)"
        }
    }
}

/// Why a stream operation was refused.
package enum StreamError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(String)
    case alreadyExists(String)
    case invalid(String)
    case noPartition(stream: String, partition: Int)
    case notStored(String)

    package var description: String {
        switch self {
        case .notFound(let name): return "no stream \(name)"
        case .alreadyExists(let name): return "stream \(name) already exists"
        case .invalid(let reason): return reason
        case .noPartition(let stream, let partition): return "stream \(stream) has no partition \(partition)"
        case .notStored(let reason): return "not stored: \(reason)"
        }
    }
}

/// What `/api/streams` and the frontends show of a stream.
package struct StreamInfo: Sendable {
    package var configuration: StreamConfiguration
    package var partitions: [StreamPartitionInfo]
    package var messages: Int { partitions.reduce(0) { $0 + $1.messages } }
    package var bytes: Int { partitions.reduce(0) { $0 + $1.bytes } }
    package var appends: UInt64 { partitions.reduce(0) { $0 + $1.appends } }
}

/// One partition's state, as readers see it (appends not yet stored are not counted in `lastOffset`).
package struct StreamPartitionInfo: Sendable {
    package var partition: Int
    package var epoch: String
    /// The oldest kept offset; `lastOffset + 1` when empty.
    package var firstOffset: UInt64
    /// The newest readable offset (0 before the first).
    package var lastOffset: UInt64
    package var messages: Int
    package var bytes: Int
    /// Appends accepted since the process started.
    package var appends: UInt64
}

/// A read from one partition.
package struct StreamReadResult: Sendable {
    package var partition: StreamPartitionInfo
    package var records: [StreamReadRecord]
}

/// A consumer group's committed offset: the next offset the group reads (Kafka's meaning).
package struct StreamCommittedOffset: Sendable, Equatable {
    package var offset: UInt64
    package var epoch: String
    /// False when the partition has moved to another epoch since the commit: the offset names other
    /// messages, and the reader starts over (its `auto.offset.reset`).
    package var isCurrent: Bool
}
