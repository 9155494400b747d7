import DequeModule
import NIOCore
import RedisWire

/// The commands in flight on one connection, in the order they were written, and what each value that
/// arrives means for them. Redis answers in order, so the head of the queue owns the next reply; pushes
/// (RESP3 `>`) are out of band: pub/sub messages go to the subscribers, subscription confirmations count
/// down the (P|S)SUBSCRIBE at the head. A value type: `valueReceived` returns the action, the handler runs
/// it.
struct RedisReplyQueue {
    /// One command waiting for its answer.
    enum Pending {
        /// A command answered by one reply.
        case reply(EventLoopPromise<RESPValue>)
        /// A (P|S)(UN)SUBSCRIBE: answered by one confirmation push per name (RESP3 sends no reply), whose
        /// first element is `confirmation` (`subscribe`, `punsubscribe`, …).
        case confirmations(confirmation: String, remaining: Int, EventLoopPromise<Void>)
    }

    /// What the handler does with a value that arrived.
    enum Action {
        /// The head command's reply.
        case succeed(EventLoopPromise<RESPValue>, RESPValue)
        /// The head command's error reply, or its subscription's.
        case fail(EventLoopPromise<RESPValue>?, EventLoopPromise<Void>?, RedisClientError)
        /// The head subscription command is confirmed for every name.
        case confirmed(EventLoopPromise<Void>)
        /// A published message for a subscriber.
        case deliver(RedisPubSubMessage)
        /// The server ended a shard subscription nobody asked to end: its slot moved to another primary
        /// (Redis 7 sends `sunsubscribe` when a reshard hands the slot over).
        case shardUnsubscribed(String)
        /// Nothing to do (a confirmation still counting down, a push we do not use).
        case none
        /// A value nobody asked for: the connection is out of step and must close.
        case protocolViolation(String)
    }

    private var pending = Deque<Pending>()

    /// True when Redis did not know HELLO and the connection speaks RESP2: pub/sub messages and
    /// confirmations then arrive as arrays, not pushes.
    var usesRESP2 = false

    var isEmpty: Bool { pending.isEmpty }

    mutating func append(_ entry: Pending) {
        pending.append(entry)
    }

    /// Removes and returns every command in flight (the connection closed).
    mutating func removeAll() -> [Pending] {
        defer { pending.removeAll() }
        return Array(pending)
    }

    mutating func valueReceived(_ value: RESPValue) -> Action {
        var value = value
        // Attributes describe a reply; no command of ours asks for them.
        while case .attribute(_, let described) = value { value = described }
        if case .push(let elements) = value { return pushReceived(elements) }
        if usesRESP2, case .array(let elements?) = value, Self.isPubSub(elements) {
            // RESP2 sends pub/sub as arrays; on a subscribed RESP2 connection only subscription commands and
            // PING may be in flight, so a pub/sub-shaped array is a push unless a plain reply is awaited.
            if case .reply = pending.first {} else { return pushReceived(elements) }
        }
        guard let head = pending.popFirst() else {
            return .protocolViolation("a reply with no command in flight")
        }
        switch head {
        case .reply(let promise):
            if let message = value.errorMessage { return .fail(promise, nil, .server(message)) }
            return .succeed(promise, value)
        case .confirmations(_, _, let promise):
            if let message = value.errorMessage { return .fail(nil, promise, .server(message)) }
            return .protocolViolation("a reply where a subscription confirmation was expected")
        }
    }

    private mutating func pushReceived(_ elements: [RESPValue]) -> Action {
        guard let name = elements.first?.string?.lowercased() else { return .none }
        switch (name, elements.count) {
        case ("message", 3), ("smessage", 3):
            guard let channel = elements[1].string, let payload = Self.bytes(elements[2]) else { return .none }
            return .deliver(
                RedisPubSubMessage(
                    kind: name == "message" ? .channel : .shardChannel, channel: channel, payload: payload))
        case ("pmessage", 4):
            guard let pattern = elements[1].string, let channel = elements[2].string,
                let payload = Self.bytes(elements[3])
            else { return .none }
            return .deliver(RedisPubSubMessage(kind: .pattern, pattern: pattern, channel: channel, payload: payload))
        default:
            guard case .confirmations(let confirmation, let remaining, let promise) = pending.first,
                confirmation == name
            else {
                if name == "sunsubscribe", elements.count == 3, let channel = elements[1].string {
                    return .shardUnsubscribed(channel)
                }
                // Pushes we do not use (invalidations).
                return .none
            }
            if remaining > 1 {
                pending[pending.startIndex] = .confirmations(confirmation: name, remaining: remaining - 1, promise)
                return .none
            }
            pending.removeFirst()
            return .confirmed(promise)
        }
    }

    private static let pubSubNames: Set<String> = [
        "message", "pmessage", "smessage", "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
        "sunsubscribe",
    ]

    private static func isPubSub(_ elements: [RESPValue]) -> Bool {
        guard (3...4).contains(elements.count), let name = elements.first?.string?.lowercased() else { return false }
        return pubSubNames.contains(name)
    }

    private static func bytes(_ value: RESPValue) -> ByteBuffer? {
        switch value {
        case .bulkString(let bytes?): bytes
        case .simpleString(let text): ByteBuffer(string: text)
        default: nil
        }
    }
}
