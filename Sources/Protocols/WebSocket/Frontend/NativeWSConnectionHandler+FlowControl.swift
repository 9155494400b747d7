import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NativeWebSocketWire

/// Publisher flow control (docs/concurrency.md, "Publisher flow control"): as a subscriber whose socket is
/// over its high water mark, the connection pauses the publishers feeding it until it drains, and past its
/// bounds gets `limits.slow_consumer`; as a publisher, it stops reading while a subscriber it feeds is behind.
extension NativeWSConnectionHandler {
    /// A delivery while the socket is not writable: nil when it is written all the same (its publisher
    /// paused), else the outcome of the slow-consumer policy.
    func admitWhileBehind(_ message: BusMessage) -> DeliveryOutcome? {
        let verdict = behind.admitUnwritable(
            message, to: info.id, policy: configuration.slowConsumerPolicy, now: bus.clock(),
            bounds: configuration.congestionBounds, registry: services.shared.connections)
        return slowConsumer(verdict)
    }

    /// What the policy's verdict means for the connection: `drop` drops the message (counted by the bus),
    /// `disconnect` closes with 1008 "slow consumer" (counted here).
    func slowConsumer(_ verdict: CongestedSubscriber.Verdict) -> DeliveryOutcome? {
        verdict.outcome {
            services.counters.countSlowConsumer()
            serverClose(.slowConsumer)
        }
    }

    /// At a keep-alive tick while behind or paused: the deadline of a subscriber that makes no progress, and
    /// the longest a publisher stays paused without a word.
    func flowControlTick() {
        let now = bus.clock()
        if paused.isPaused {
            // Frames the client sent meanwhile are not read: its silence is ours, not a missed pong.
            machine.frameReceived()
            paused.expire(now: now, channel: context?.channel)
        }
        let buffered = try? context?.channel.syncOptions?.getOption(.bufferedWritableBytes)
        let verdict = behind.tick(
            buffered: buffered, acked: CongestedSubscriber.bytesAcked(context?.channel), subscriberID: info.id,
            policy: configuration.slowConsumerPolicy, now: now,
            bounds: configuration.congestionBounds, registry: services.shared.connections)
        if let verdict { _ = slowConsumer(verdict) }
    }

    /// A subscriber this connection's publishes feed fell behind, or caught up (`CongestedSubscriber`): the
    /// socket is not read while any is behind.
    func publishingPaused(_ paused: Bool, by subscriberID: String) {
        eventLoop.execute {
            self.paused.apply(paused, by: subscriberID, now: self.bus.clock(), channel: self.context?.channel)
        }
    }
}
