import BusCore
import BusRuntime
import FrontendKit
import NIOCore

/// Publisher flow control over the WebSocket transport (docs/concurrency.md, "Publisher flow control"): a
/// session whose socket is over its high water mark pauses the publishers feeding it until it drains, and
/// past its bounds gets `limits.slow_consumer`; a session whose publishes feed a subscriber that is behind
/// stops reading its WebSocket. The session joins no keep-alive sweeper (its heartbeat is its own timer),
/// so a timer of its own checks the deadline and the longest pause while either lasts.
extension SocketIOSession {
    /// A delivery while the WebSocket is not writable: nil when it is written all the same (its publisher
    /// paused), else the slow-consumer policy's outcome.
    func admitWhileBehind(_ message: BusMessage) -> DeliveryOutcome? {
        let verdict = behind.admitUnwritable(
            message, to: info.id, policy: configuration.slowConsumerPolicy, now: bus.clock(),
            bounds: configuration.congestionBounds, registry: services.connections)
        startFlowControlTimer()
        return slowConsumer(verdict)
    }

    /// `drop` drops the message (counted by the bus); `disconnect` ends the session, counted.
    func slowConsumer(_ verdict: CongestedSubscriber.Verdict) -> DeliveryOutcome? {
        verdict.outcome {
            services.counters.countSlowConsumer()
            close(.server(.slowConsumer))
        }
    }

    /// `handler`, the session's WebSocket, is writable again: the session caught up.
    func transportDrained(_ handler: SocketIOWebSocketHandler) {
        guard case .websocket(let current) = transport, current === handler else { return }
        behind.writable(info.id, registry: services.connections)
    }

    /// A subscriber this session's publishes feed fell behind, or caught up (`CongestedSubscriber`): its
    /// WebSocket is not read while any is behind, and a polling session's POSTs are answered only once none
    /// is (`postAnswered`).
    func publishingPaused(_ paused: Bool, by subscriberID: String) {
        eventLoop.execute {
            self.paused.apply(
                paused, by: subscriberID, now: self.bus.clock(), channel: self.webSocketHandler?.readingChannel)
            if self.paused.isPaused { self.startFlowControlTimer() } else { self.heldAnswers.releaseAll() }
        }
    }

    /// When the answer to a POST whose packets were just handled may go (Engine.IO polling, the publisher's
    /// side of flow control): at once, or — while a subscriber its publishes feed is behind — when none is,
    /// at most `longestHeldPost` later. The client sends its next POST only once this one is answered.
    func postAnswered() -> EventLoopFuture<Void> {
        heldAnswers.answer(paused: paused.isPaused, on: eventLoop, atMost: Self.longestHeldPost)
    }

    /// The longest a POST's answer is held: under python-engineio's request timeout (5 s), past which the
    /// client gives its session up.
    static let longestHeldPost = TimeAmount.seconds(4)

    /// Every keep-alive tick's worth (`KeepAliveSweeper.tick`) while behind or paused.
    private func startFlowControlTimer() {
        guard flowControlTimer == nil, !isClosed else { return }
        flowControlTimer = eventLoop.scheduleRepeatedTask(
            initialDelay: KeepAliveSweeper.tick, delay: KeepAliveSweeper.tick
        ) { [weak self] _ in
            self?.flowControlTick()
        }
    }

    private func flowControlTick() {
        let now = bus.clock()
        let channel = webSocketHandler?.readingChannel
        paused.expire(now: now, channel: channel)
        if !paused.isPaused { heldAnswers.releaseAll() }
        // Read on the channel's own loop only (an upgraded session may live on another): without it the
        // deadline counts from when the session fell behind.
        let buffered =
            channel.flatMap { $0.eventLoop.inEventLoop ? try? $0.syncOptions?.getOption(.bufferedWritableBytes) : nil }
        if let verdict = behind.tick(
            buffered: buffered, acked: CongestedSubscriber.bytesAcked(channel), subscriberID: info.id,
            policy: configuration.slowConsumerPolicy, now: now,
            bounds: configuration.congestionBounds, registry: services.connections)
        {
            _ = slowConsumer(verdict)
        }
        if !behind.isBehind && !paused.isPaused {
            flowControlTimer?.cancel()
            flowControlTimer = nil
        }
    }

    /// The session closed: the publishers it paused go on, its held POSTs are answered, its timer stops.
    func flowControlEnded() {
        behind.caughtUp(info.id, registry: services.connections)
        heldAnswers.releaseAll()
        flowControlTimer?.cancel()
        flowControlTimer = nil
    }
}
