package import BusCore

/// A record read from a stream partition, with its place.
package struct StreamReadRecord: Sendable {
    package var partition: Int
    package var offset: UInt64
    /// When it was appended (ns since the Unix epoch, never decreasing within a partition).
    package var time: UInt64
    package var record: StreamRecord
}

/// A record's index entry (no body): what scans by subject, counts and times need, read from memory
/// whatever the stream keeps of its bodies (`StreamPartitionBox.readIndex`).
package struct StreamIndexRecord: Sendable {
    package var offset: UInt64
    /// The bus topic it was published on.
    package var subject: String
    /// When it was appended (ns since the Unix epoch, never decreasing within a partition).
    package var time: UInt64
    /// Payload bytes.
    package var bytes: Int
    /// Subject, headers and payload (`StreamPartitionBox.recordBytes(of:)`).
    package var recordBytes: Int

    package var topic: Topic { Topic(trusted: subject) }
}
