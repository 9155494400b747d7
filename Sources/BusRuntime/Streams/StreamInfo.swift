package import BusCore

/// What `/api/streams` and the frontends show of a stream.
package struct StreamInfo: Sendable {
    package var configuration: StreamConfiguration
    package var partitions: [StreamPartitionInfo]
    package var messages: Int { partitions.reduce(0) { $0 + $1.messages } }
    package var bytes: Int { partitions.reduce(0) { $0 + $1.bytes } }
    package var recordBytes: Int { partitions.reduce(0) { $0 + $1.recordBytes } }
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
    /// The kept records' sizes: subject, headers and payload (`StreamPartitionBox.recordBytes(of:)`).
    package var recordBytes: Int
    /// Appends accepted since the process started.
    package var appends: UInt64
    /// Record bytes of the bodies kept in memory (a `file` stream keeps its newest records' up to its
    /// memory tail; the others are read from the store).
    package var memoryBytes: Int = 0
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

/// An index read from one partition (`StreamPartitionBox.readIndex`).
package struct StreamIndexResult: Sendable {
    package var partition: StreamPartitionInfo
    package var records: [StreamIndexRecord]
}
