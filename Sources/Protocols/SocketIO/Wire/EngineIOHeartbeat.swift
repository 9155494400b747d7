package import NIOCore

/// The server side of Engine.IO v4's heartbeat (§heartbeat): every `pingInterval` the server sends a
/// ping and the client must answer with a pong within `pingTimeout`, else the session is closed. Time
/// comes with each event, so tests need no clock.
package struct EngineIOHeartbeat: Sendable {
    /// The configured periods.
    package let interval: TimeAmount
    package let timeout: TimeAmount
    /// When the last ping went out (or the session opened).
    private var lastPing: NIODeadline
    /// Whether the last ping is still unanswered.
    private var awaitingPong = false

    package init(interval: TimeAmount, timeout: TimeAmount, now: NIODeadline) {
        self.interval = interval
        self.timeout = timeout
        self.lastPing = now
    }

    /// What the timer should do now.
    package enum Action: Equatable, Sendable {
        /// Send a ping; check again at `next`.
        case sendPing(next: NIODeadline)
        /// Nothing yet; check again at `next`.
        case wait(next: NIODeadline)
        /// The client missed the pong: close the session ("ping timeout").
        case timedOut
    }

    /// The timer fired at `now`.
    package mutating func tick(now: NIODeadline) -> Action {
        if awaitingPong {
            guard now < lastPing + timeout else { return .timedOut }
            return .wait(next: lastPing + timeout)
        }
        guard now >= lastPing + interval else { return .wait(next: lastPing + interval) }
        lastPing = now
        awaitingPong = true
        return .sendPing(next: now + timeout)
    }

    /// A pong arrived at `now`: the next ping is due an interval after the last one.
    package mutating func pongReceived() -> NIODeadline {
        awaitingPong = false
        return lastPing + interval
    }

    /// Whether the client has missed its pong at `now` (a request may arrive before the timer fires).
    package func hasTimedOut(now: NIODeadline) -> Bool { awaitingPong && now >= lastPing + timeout }

    /// When the timer should next fire.
    package var nextDeadline: NIODeadline { awaitingPong ? lastPing + timeout : lastPing + interval }
}
