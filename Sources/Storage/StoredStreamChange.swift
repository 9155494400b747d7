package import BusCore

/// A stream as the database holds it now, read for an instance whose copy may be stale (several instances
/// on one PostgreSQL database, docs/storage.md): its definition and, per partition, its epoch, newest
/// offset, trim floor, the records above the offset the reader already has, and which of the records at
/// or below it are still stored.
package struct StoredStreamChange: Sendable {
    package var configuration: StreamConfiguration
    /// One per partition, in partition order.
    package var partitions: [Partition]

    package struct Partition: Sendable {
        package var epoch: String
        /// The newest offset ever written in `epoch`.
        package var lastOffset: UInt64
        /// Records below this are trimmed (`stream_partition.trimmed_before`).
        package var trimmedBefore: UInt64
        /// The records above the offset asked for (all of them when the reader has none), oldest first,
        /// whole.
        package var records: [StoredStreamMessage]
        /// The offsets at or below the one asked for that are still stored, ascending; nil when not read
        /// (only what was appended was asked for).
        package var kept: [UInt64]?
        /// The offset `records` start after and `kept` speaks up to (0 when every record was read).
        package var after: UInt64 = 0
        package init(
            epoch: String, lastOffset: UInt64, trimmedBefore: UInt64, records: [StoredStreamMessage],
            kept: [UInt64]?
        ) {
            self.epoch = epoch
            self.lastOffset = lastOffset
            self.trimmedBefore = trimmedBefore
            self.records = records
            self.kept = kept
        }
    }

    package init(configuration: StreamConfiguration, partitions: [Partition]) {
        self.configuration = configuration
        self.partitions = partitions
    }
}

/// What `StoreSessionOwnership.loadNames(_:completion:)` lists.
package enum StoredNameKind: Sendable {
    /// Stream names (`stream`).
    case streams
    /// Topics with a retained message (`retained`).
    case retainedTopics
    /// Record collection names (`record_collection`).
    case collections
}
