package import BusCore
import NIOCore

/// A stream as stored: its definition, and each partition's epoch, newest offset and kept messages.
package struct StoredStream: Sendable {
    package var configuration: StreamConfiguration
    /// One per partition, in partition order (as many as `configuration.partitions`).
    package var partitions: [StoredStreamPartition]
    package init(configuration: StreamConfiguration, partitions: [StoredStreamPartition]) {
        self.configuration = configuration
        self.partitions = partitions
    }
}

/// One partition of a stored stream. `lastOffset` is the newest offset ever written in `epoch` (messages
/// may all be gone: the next append still continues after it).
package struct StoredStreamPartition: Sendable {
    package var epoch: String
    package var lastOffset: UInt64
    /// Oldest first (empty when the load left the bodies out: `index` then).
    package var messages: [StoredStreamMessage]
    /// Oldest first, every record's index entry, when the load left the bodies out
    /// (`Store.load(streamBodies: false)`: a restart reads back only a memory tail's bodies).
    package var index: [StoredStreamIndexEntry]
    package init(
        epoch: String, lastOffset: UInt64, messages: [StoredStreamMessage] = [], index: [StoredStreamIndexEntry] = []
    ) {
        self.epoch = epoch
        self.lastOffset = lastOffset
        self.messages = messages
        self.index = index
    }
}

/// A stored record without its body: what a partition's index keeps (limits, purges and reads by
/// subject or time work from these; `Store.readStream` gives the bodies).
package struct StoredStreamIndexEntry: Sendable, Equatable {
    package var offset: UInt64
    /// The bus topic it was published on.
    package var subject: String
    /// Payload bytes.
    package var bytes: Int
    /// `BusMessage.streamRecordBytes`: subject, headers and payload.
    package var recordBytes: Int
    /// The message's time (ns since the Unix epoch).
    package var time: UInt64
    package init(offset: UInt64, subject: String, bytes: Int, recordBytes: Int, time: UInt64) {
        self.offset = offset
        self.subject = subject
        self.bytes = bytes
        self.recordBytes = recordBytes
        self.time = time
    }

    /// The entry of a whole record.
    package init(_ message: StoredStreamMessage) {
        self.init(
            offset: message.offset, subject: message.message.topic.name,
            bytes: message.message.payload.readableBytes, recordBytes: message.message.streamRecordBytes,
            time: message.message.timestamp)
    }
}

/// One message of a stream partition: where it sits, the key it was partitioned by (Kafka's record
/// key), and the bus message (topic = subject, payload, headers, time).
package struct StoredStreamMessage: Sendable {
    package var stream: String
    package var partition: Int
    package var offset: UInt64
    package var key: [UInt8]?
    package var message: BusMessage
    package init(stream: String, partition: Int, offset: UInt64, key: [UInt8]?, message: BusMessage) {
        self.stream = stream
        self.partition = partition
        self.offset = offset
        self.key = key
        self.message = message
    }
}

/// A consumer group's committed offset in one stream partition: the next offset the group reads (Kafka's
/// meaning), in `epoch` (an offset of another epoch names other messages: the reader starts over).
package struct StoredStreamConsumerOffset: Sendable, Hashable {
    package var group: String
    package var stream: String
    package var partition: Int
    package var epoch: String
    package var offset: UInt64
    package init(group: String, stream: String, partition: Int, epoch: String, offset: UInt64) {
        self.group = group
        self.stream = stream
        self.partition = partition
        self.epoch = epoch
        self.offset = offset
    }
}

/// The stored columns of a stream definition, shared by the SQL stores.
enum StoredStreamColumns {
    /// Filters as one text column: each filter's text, separated by newlines (a filter has no control
    /// characters: `Topic` refuses them).
    static func filters(_ filters: [TopicFilter]) -> String { filters.map(\.text).joined(separator: "\n") }

    static func filters(_ text: String) -> [TopicFilter] {
        text.split(separator: "\n").compactMap { try? TopicFilter(String($0)) }
    }

    /// The definition back from its columns; nil when a column holds what no version wrote.
    static func configuration(
        name: String, filters: String, partitions: Int64, retention: String, storage: String,
        maxMessages: Int64?, maxBytes: Int64?, maxAge: Int64?, maxMessageSize: Int64?, maxPerSubject: Int64?,
        discard: String, duplicateWindow: Int64, sealed: Bool, recordOverhead: Int64?, memoryTail: Int64?
    ) -> StreamConfiguration? {
        guard let retention = StreamRetention(rawValue: retention), let storage = StreamStorage(rawValue: storage),
            let discard = StreamDiscardPolicy(rawValue: discard), partitions > 0
        else { return nil }
        let limits = StreamLimits(
            maxMessages: maxMessages.map(Int.init), maxBytes: maxBytes.map(Int.init),
            maxAgeNanoseconds: maxAge.map { UInt64(bitPattern: $0) }, maxMessageSize: maxMessageSize.map(Int.init),
            maxMessagesPerSubject: maxPerSubject.map(Int.init), discard: discard,
            duplicateWindowNanoseconds: UInt64(bitPattern: duplicateWindow), sealed: sealed,
            recordOverhead: recordOverhead.map(Int.init))
        return StreamConfiguration(
            name: name, filters: Self.filters(filters), partitions: Int(partitions), limits: limits,
            retention: retention, storage: storage, memoryTail: StreamMemoryTail(storedValue: memoryTail.map(Int.init)))
    }
}
