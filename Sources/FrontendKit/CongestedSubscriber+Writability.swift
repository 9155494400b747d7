package import BusCore
package import BusRuntime
package import NIOCore

/// Publisher flow control for the subscribers whose outbound limit is the socket's high water mark and whose
/// policy is `limits.slow_consumer` (native WebSocket, SSE, Socket.IO, SignalR): a delivery that finds the
/// socket not writable is written all the same and pauses its publisher, within the bounds; past them the
/// policy applies — `drop` gives the subscriber up (its messages are dropped and counted, its publishers go
/// on, until the socket drains), `disconnect` closes it with the protocol's reason.
extension CongestedSubscriber {
    /// What a subscriber over its high water mark does with a message (or at a tick, with itself).
    package enum Verdict: Equatable {
        /// Write it: the publishers feeding the subscriber pause until it drains.
        case write
        /// `drop`: drop it and count it; the publishers go on.
        case drop
        /// `disconnect`: close the subscriber with the protocol's slow-consumer reason, counted.
        case disconnect

        /// What the verdict means for a delivery: nil, write it; else `.dropped` — after `disconnect`
        /// (count the slow consumer and close with the protocol's reason) for `.disconnect`.
        package func outcome(disconnect: () -> Void) -> DeliveryOutcome? {
            switch self {
            case .write: return nil
            case .drop: return .dropped
            case .disconnect:
                disconnect()
                return .dropped
            }
        }
    }

    /// A message for `subscriberID`, whose socket is not writable (over `limits.max_outbound_bytes`).
    package mutating func admitUnwritable(
        _ message: BusMessage, to subscriberID: String, policy: SlowConsumerPolicy, now: UInt64, bounds: Bounds,
        registry: ConnectionRegistry
    ) -> Verdict {
        let admission = admit(
            bytes: message.payload.readableBytes, publishedAt: message.timestamp, from: message.publisherID,
            to: subscriberID, now: now, bounds: bounds, registry: registry)
        guard admission == .refuse else { return .write }
        return apply(policy, to: subscriberID, registry: registry)
    }

    /// At a keep-alive tick: `buffered` bytes wait in the subscriber's socket. Nil while it keeps up, or is
    /// behind and still within its deadline (counted from its last progress, `observe`); past it, the policy.
    package mutating func tick(
        buffered: Int?, acked: UInt64? = nil, subscriberID: String, policy: SlowConsumerPolicy, now: UInt64,
        bounds: Bounds, registry: ConnectionRegistry
    ) -> Verdict? {
        guard since != nil else { return nil }
        if let buffered { observe(buffered: buffered, acked: acked, now: now) }
        guard isPastDeadline(now: now, deadline: bounds.deadline) else { return nil }
        return apply(policy, to: subscriberID, registry: registry)
    }

    /// The socket is writable again (below its low water mark): the subscriber caught up.
    package mutating func writable(_ subscriberID: String, registry: ConnectionRegistry) {
        if isBehind { caughtUp(subscriberID, registry: registry) }
    }

    private mutating func apply(_ policy: SlowConsumerPolicy, to subscriberID: String, registry: ConnectionRegistry)
        -> Verdict
    {
        if policy == .disconnect {
            caughtUp(subscriberID, registry: registry)
            return .disconnect
        }
        if !isGivenUp { giveUp(subscriberID, registry: registry) }
        return .drop
    }
}

extension CongestedSubscriber.Bounds {
    /// For a subscriber that is behind when its socket is over its high water mark `outboundLimit`
    /// (`limits.max_outbound_bytes`): nats-server's deadline, and the last quarter of the limit past the
    /// mark as slack — at least `minimumSlack`, what a paused publisher may still bring.
    package static func pastHighWaterMark(_ outboundLimit: Int) -> Self {
        Self(
            deadline: UInt64(defaultDeadlineMilliseconds) * 1_000_000,
            slack: max(outboundLimit / 4, minimumSlack))
    }
}

/// Publisher flow control for a connection that reads WebSocket frames (native WebSocket, Socket.IO,
/// SignalR): it holds a `PausedPublisher` and stops reading its socket while any subscriber it feeds is
/// behind. Its decoder still hands on the frames it had already read.
extension PausedPublisher {
    /// Applies a pause or resume from `subscriberID` and switches `channel`'s reading to match. Call on
    /// the channel's loop.
    package mutating func apply(_ paused: Bool, by subscriberID: String, now: UInt64, channel: (any Channel)?) {
        guard apply(paused, by: subscriberID, now: now) != nil, let channel else { return }
        channel.setOption(ChannelOptions.autoRead, value: isPaused == false).whenFailure { _ in }
    }

    /// At a keep-alive tick: a pause nothing ended within `longestPause` ends (reading starts again).
    package mutating func expire(now: UInt64, channel: (any Channel)?) {
        guard expire(now: now), let channel else { return }
        channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
    }
}
