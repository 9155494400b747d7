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

    package init(
        key: [UInt8]? = nil, partition: Int? = nil, stream: String? = nil, messageID: String? = nil,
        offset: UInt64? = nil
    ) {
        self.key = key
        self.partition = partition
        self.stream = stream
        self.messageID = messageID
        self.offset = offset
    }
}
