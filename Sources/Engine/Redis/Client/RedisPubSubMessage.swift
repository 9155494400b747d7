public import NIOCore

/// What a subscription is to: a channel (`SUBSCRIBE`), a glob pattern (`PSUBSCRIBE`) or a shard channel
/// (`SSUBSCRIBE`, Redis 7; published with `SPUBLISH`).
public enum RedisSubscriptionKind: Sendable, CaseIterable, Hashable {
    case channel
    case pattern
    case shardChannel

    /// The command that subscribes; its lowercased name is also the confirmation push's first element.
    var subscribeCommand: String {
        switch self {
        case .channel: "SUBSCRIBE"
        case .pattern: "PSUBSCRIBE"
        case .shardChannel: "SSUBSCRIBE"
        }
    }

    /// The command that unsubscribes, likewise.
    var unsubscribeCommand: String {
        switch self {
        case .channel: "UNSUBSCRIBE"
        case .pattern: "PUNSUBSCRIBE"
        case .shardChannel: "SUNSUBSCRIBE"
        }
    }

    /// The first element of the push that carries a message.
    var messagePushName: String {
        switch self {
        case .channel: "message"
        case .pattern: "pmessage"
        case .shardChannel: "smessage"
        }
    }
}

/// A message published to something this client subscribed to.
public struct RedisPubSubMessage: Sendable, Equatable {
    /// How it matched: the subscription's kind.
    public var kind: RedisSubscriptionKind
    /// The pattern that matched, for `.pattern`; nil otherwise.
    public var pattern: String?
    /// The channel it was published to.
    public var channel: String
    /// The published bytes.
    public var payload: ByteBuffer

    public init(kind: RedisSubscriptionKind, pattern: String? = nil, channel: String, payload: ByteBuffer) {
        self.kind = kind
        self.pattern = pattern
        self.channel = channel
        self.payload = payload
    }

    /// The subscription name the message is for: the pattern for `.pattern`, else the channel.
    var subscriptionName: String { pattern ?? channel }
}

/// Receives the messages of one subscription, on the client's event loop.
public typealias RedisMessageHandler = @Sendable (RedisPubSubMessage) -> Void
