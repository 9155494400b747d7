/// A queue's declared behaviour, as RabbitMQ's `x-` arguments spell it. The protocol layer parses them
/// (AMQP `queue.declare` arguments, STOMP headers) and checks equivalence on redeclare; the queue only
/// applies them. nil is "not set". Times are nanoseconds, like every clock value in BusCore.
package struct QueueArguments: Sendable, Equatable {
    /// The highest message priority the queue distinguishes (`x-max-priority`, at most
    /// `highestMaxPriority`); nil keeps plain FIFO order. With it, higher priorities go first and FIFO
    /// holds within a priority; a message's priority above it counts as this one.
    package var maxPriority: UInt8?
    /// How long a message may wait in the queue (`x-message-ttl`); a message's own `expiration` can only
    /// shorten it. 0: a message is delivered only if a consumer takes it at once, else it expires.
    package var messageTimeToLive: UInt64?
    /// How long the queue may stay unused (no consumer, no `basic.get`, no redeclare) before its owner
    /// deletes it (`x-expires`).
    package var expires: UInt64?
    /// Most ready messages (`x-max-length`); unacknowledged ones are not counted, as in RabbitMQ.
    package var maxLength: Int?
    /// Most payload bytes of ready messages (`x-max-length-bytes`).
    package var maxLengthBytes: Int?
    /// What a full queue does with one more message (`x-overflow`).
    package var overflow: QueueOverflow
    /// Where dead messages are republished (`x-dead-letter-exchange`); nil drops them. "" is the default
    /// exchange, a valid target.
    package var deadLetterExchange: String?
    /// The routing key dead messages are republished with (`x-dead-letter-routing-key`); nil keeps each
    /// message's own routing keys.
    package var deadLetterRoutingKey: String?
    /// Only one consumer receives messages at a time (`x-single-active-consumer`): the earliest still
    /// registered; the next one takes over when it leaves.
    package var singleActiveConsumer: Bool

    /// RabbitMQ's cap on `x-max-priority`; the protocol layer refuses larger values.
    package static let highestMaxPriority: UInt8 = 255

    package init(
        maxPriority: UInt8? = nil, messageTimeToLive: UInt64? = nil, expires: UInt64? = nil, maxLength: Int? = nil,
        maxLengthBytes: Int? = nil, overflow: QueueOverflow = .dropHead, deadLetterExchange: String? = nil,
        deadLetterRoutingKey: String? = nil, singleActiveConsumer: Bool = false
    ) {
        self.maxPriority = maxPriority
        self.messageTimeToLive = messageTimeToLive
        self.expires = expires
        self.maxLength = maxLength
        self.maxLengthBytes = maxLengthBytes
        self.overflow = overflow
        self.deadLetterExchange = deadLetterExchange
        self.deadLetterRoutingKey = deadLetterRoutingKey
        self.singleActiveConsumer = singleActiveConsumer
    }
}

/// What a queue at `maxLength` or `maxLengthBytes` does with a new message (`x-overflow`).
package enum QueueOverflow: String, Sendable, Equatable {
    /// The oldest ready messages make room and are dead-lettered with reason `maxlen` (the default).
    case dropHead = "drop-head"
    /// The new message is refused (a publisher with confirms gets `basic.nack`).
    case rejectPublish = "reject-publish"
    /// The new message is refused and dead-lettered with reason `maxlen`.
    case rejectPublishDeadLetter = "reject-publish-dlx"
}
