import BusCore
import BusRuntime
import FrontendKit
import NIOCore

/// Publisher flow control on the WebSocket transport (docs/concurrency.md, "Publisher flow control"): a
/// connection whose socket is over its high water mark pauses the publishers feeding it until it drains,
/// and past its bounds gets `limits.slow_consumer`; one whose publishes feed a subscriber that is behind
/// stops reading its WebSocket — or, over the HTTP transports, has the answers to its POSTs held until none
/// is. (As subscribers, the Server-Sent Events and long-polling transports keep the policy alone.)
extension SignalRConnectionHandler {
    /// A delivery while the WebSocket is not writable: nil when it is written all the same (its publisher
    /// paused), else the slow-consumer policy's outcome.
    func admitWhileBehind(_ message: BusMessage) -> DeliveryOutcome? {
        let verdict = behind.admitUnwritable(
            message, to: info.id, policy: configuration.slowConsumerPolicy, now: bus.clock(),
            bounds: configuration.congestionBounds, registry: services.connections)
        return slowConsumer(verdict)
    }

    /// `drop` drops the message (counted by the bus); `disconnect` closes with the protocol's error.
    private func slowConsumer(_ verdict: CongestedSubscriber.Verdict) -> DeliveryOutcome? {
        verdict.outcome {
            services.counters.countSlowConsumer()
            closeWithError("The client is too slow: its outbound buffer is full.")
        }
    }

    /// At a keep-alive tick while behind or paused: the deadline of a subscriber that makes no progress,
    /// and the longest a publisher stays paused without a word.
    func flowControlTick() {
        let now = bus.clock()
        if paused.isPaused {
            // What the client sent meanwhile is not read: its silence is ours, not a client timeout.
            receivedSinceTick = true
            paused.expire(now: now, channel: context?.channel)
            if !paused.isPaused { heldAnswers.releaseAll() }
        }
        let buffered = try? context?.channel.syncOptions?.getOption(.bufferedWritableBytes)
        if let verdict = behind.tick(
            buffered: buffered, acked: CongestedSubscriber.bytesAcked(context?.channel), subscriberID: info.id,
            policy: configuration.slowConsumerPolicy, now: now,
            bounds: configuration.congestionBounds, registry: services.connections)
        {
            _ = slowConsumer(verdict)
        }
    }

    /// A subscriber this connection's publishes feed fell behind, or caught up (`CongestedSubscriber`): the
    /// WebSocket is not read while any is behind, and the HTTP transports' POSTs are answered only once none is.
    func publishingPaused(_ paused: Bool, by subscriberID: String) {
        eventLoop.execute {
            self.paused.apply(paused, by: subscriberID, now: self.bus.clock(), channel: self.context?.channel)
            if !self.paused.isPaused { self.heldAnswers.releaseAll() }
        }
    }

    /// When the answer to a POST whose messages were just handled may go (Server-Sent Events and long
    /// polling, the publisher's side of flow control): at once, or — while a subscriber its publishes feed is
    /// behind — when none is (at most `PausedPublisher.longestPause`, which ends the pause itself). The
    /// client sends its next POST only once this one is answered; ASP.NET Core likewise holds a POST while
    /// the connection's application pipe is over its pause threshold.
    func postAnswered() -> EventLoopFuture<Void> {
        heldAnswers.answer(
            paused: paused.isPaused, on: eventLoop, atMost: .nanoseconds(Int64(PausedPublisher.longestPause)))
    }
}
