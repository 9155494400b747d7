/// A consumer as the caller registers it on a queue (AMQP `basic.consume`, a STOMP `/queue/` SUBSCRIBE).
package struct QueueConsumer: Sendable, Equatable {
    /// The caller's name for it, unique on the queue (the frontend maps channel + consumer tag to it).
    package var id: QueueConsumerID
    /// The protocol's tag, kept for inspection only.
    package var tag: String
    /// Most unacknowledged messages it may hold (`basic.qos` per consumer); 0 is unlimited. Ignored in
    /// auto-ack mode, as RabbitMQ does: the caller's `admit` closure paces those.
    package var prefetch: Int
    /// Whether deliveries need an ack.
    package var ackMode: QueueAckMode
    /// The only consumer the queue may have while it is registered (`basic.consume` exclusive).
    package var exclusive: Bool
    /// `x-priority`: higher-priority consumers get messages first while they have room; equal priorities
    /// take turns.
    package var priority: Int

    package init(
        id: QueueConsumerID, tag: String = "", prefetch: Int = 0, ackMode: QueueAckMode = .manual,
        exclusive: Bool = false, priority: Int = 0
    ) {
        self.id = id
        self.tag = tag
        self.prefetch = prefetch
        self.ackMode = ackMode
        self.exclusive = exclusive
        self.priority = priority
    }
}

/// A consumer's identity on a queue, chosen by the caller (a per-loop counter is enough).
package struct QueueConsumerID: Hashable, Sendable, CustomStringConvertible {
    package var rawValue: UInt64

    package init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    package var description: String { "consumer \(rawValue)" }
}

/// How deliveries to a consumer are settled.
package enum QueueAckMode: Sendable, Equatable {
    /// The consumer acks, nacks or rejects each message; until then it is unacked and counts against the
    /// prefetch window.
    case manual
    /// A message leaves the queue as it is delivered (AMQP `no-ack`, STOMP `ack:auto`).
    case automatic
}
