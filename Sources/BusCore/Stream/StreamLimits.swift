import NIOCore

/// The bounds of one stream (each partition keeps them on its own), as JetStream and Kafka name them:
/// nil is "no limit". Every bound is checked on append; age is checked on append and on `trim(now:)`.
package struct StreamLimits: Sendable, Equatable {
    /// Most messages kept (JetStream `max_msgs`, Kafka has none).
    package var maxMessages: Int?
    /// Most payload bytes kept (`max_bytes`, Kafka `retention.bytes`); see `recordOverhead`.
    package var maxBytes: Int?
    /// Oldest message kept, in nanoseconds (`max_age`, Kafka `retention.ms`).
    package var maxAgeNanoseconds: UInt64?
    /// Largest message accepted (`max_msg_size`, Kafka `max.message.bytes`); larger ones are refused.
    package var maxMessageSize: Int?
    /// Most messages kept per subject (`max_msgs_per_subject`): the subject's oldest goes first, whatever
    /// the discard policy (as nats-server does unless `discard_new_per_subject`).
    package var maxMessagesPerSubject: Int?
    /// What a full stream does with a new message.
    package var discard: StreamDiscardPolicy
    /// How long a message id is remembered to drop a republished duplicate (`duplicate_window`,
    /// `Nats-Msg-Id`); 0 turns deduplication off.
    package var duplicateWindowNanoseconds: UInt64
    /// A sealed stream (JetStream `sealed`, an object store's `seal`) takes no new message and lets none
    /// go: no append, no age limit, no deletion or purge. It is never unsealed.
    package var sealed: Bool
    /// nil: `maxBytes` bounds payload bytes. Set (a stream JetStream made): it bounds what nats-server
    /// counts — each record's subject, headers and payload, plus this much per message (its file store's
    /// 30, its memory store's 16).
    package var recordOverhead: Int?

    package init(
        maxMessages: Int? = nil, maxBytes: Int? = nil, maxAgeNanoseconds: UInt64? = nil, maxMessageSize: Int? = nil,
        maxMessagesPerSubject: Int? = nil, discard: StreamDiscardPolicy = .old, duplicateWindowNanoseconds: UInt64 = 0,
        sealed: Bool = false, recordOverhead: Int? = nil
    ) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.maxAgeNanoseconds = maxAgeNanoseconds
        self.maxMessageSize = maxMessageSize
        self.maxMessagesPerSubject = maxMessagesPerSubject
        self.discard = discard
        self.duplicateWindowNanoseconds = duplicateWindowNanoseconds
        self.sealed = sealed
        self.recordOverhead = recordOverhead
    }
}

/// What a stream at its message or byte limit does with a new message.
package enum StreamDiscardPolicy: String, Sendable, Equatable {
    /// The oldest messages make room (JetStream `discard: old`, Kafka retention).
    case old
    /// The new message is refused (JetStream `discard: new`): a publisher learns the stream is full.
    case new
    /// As `new`, and a subject at `maxMessagesPerSubject` refuses its new message too instead of dropping
    /// its oldest (JetStream `discard_new_per_subject`).
    case newPerSubject = "new_per_subject"
}

extension BusMessage {
    /// The message's size as a stored stream record, as nats-server's file store counts one before its
    /// fixed overhead: its subject, its headers as a NATS header block (`NATS/1.0` and a line per field,
    /// `Content-Type` included) with their 4-byte length, and its payload. What `StreamLimits.maxBytes`
    /// bounds with `recordOverhead`, and what a `file` stream's memory tail counts.
    package var streamRecordBytes: Int {
        let headers = self.headers
        var headerBytes = 0
        if headers.contentType != nil || !headers.userProperties.isEmpty {
            headerBytes = 4 + 12 + (headers.contentType.map { 16 + $0.utf8.count } ?? 0)
            for property in headers.userProperties {
                headerBytes += property.name.utf8.count + property.value.utf8.count + 4
            }
        }
        return topic.name.utf8.count + headerBytes + payload.readableBytes
    }
}
