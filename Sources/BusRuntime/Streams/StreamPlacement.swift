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
    /// The record's offset in `stream`, not the next one (a JetStream mirror keeps its origin's
    /// sequences): the offsets between the newest and it stay holes; one at or below the newest is not
    /// appended again (answered as a duplicate).
    package var offset: UInt64?
    /// The payload is a slice of a buffer packed with the payloads of the records published beside it
    /// (Kafka REST decodes a request's values into shared buffers of at most 64 KB), so it is kept as it
    /// is: a payload holding far more buffer than its own bytes is otherwise copied into a buffer of its
    /// own before a stream keeps it (`StreamRegistry.compacted`).
    package var packedPayload: Bool

    package init(
        key: [UInt8]? = nil, partition: Int? = nil, stream: String? = nil, messageID: String? = nil,
        offset: UInt64? = nil, packedPayload: Bool = false
    ) {
        self.key = key
        self.partition = partition
        self.stream = stream
        self.messageID = messageID
        self.offset = offset
        self.packedPayload = packedPayload
    }
}
