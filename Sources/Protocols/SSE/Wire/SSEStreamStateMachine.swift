package import NIOCore

/// The life of one SSE stream (`/sse` or `/api/realtime`): keep-alive comments, the realtime inactivity
/// drop, and ending once. Pure: the handler feeds it facts with the loop's time and runs its actions.
package struct SSEStreamStateMachine {
    private enum State {
        /// Streaming; `lastActivity` is the newest delivery or subscription change (inactivity drop).
        case streaming(nextKeepAlive: NIODeadline, lastActivity: NIODeadline)
        /// `finish` was asked for; waiting for the connection to close.
        case finishing
        /// The connection closed and the stream let go of the bus.
        case ended
    }

    /// What the handler does next; every event answers with one of these, and the handler's one
    /// `run(_:)` carries it out.
    package enum Action: Equatable {
        /// Nothing to do.
        case none
        /// Write a keep-alive comment and flush.
        case sendKeepAlive
        /// End the body and close the connection (the realtime client was inactive too long, or the
        /// server asked: admin drop, shutdown, slow consumer).
        case finish
        /// The connection closed: unsubscribe and unregister, once.
        case cleanUp
    }

    private var state: State
    private let keepAliveInterval: TimeAmount
    /// nil: never dropped for inactivity (`/sse`); set for `/api/realtime`.
    private let inactivityTimeout: TimeAmount?

    package init(now: NIODeadline, keepAliveInterval: TimeAmount, inactivityTimeout: TimeAmount?) {
        self.keepAliveInterval = keepAliveInterval
        self.inactivityTimeout = inactivityTimeout
        self.state = .streaming(nextKeepAlive: now + keepAliveInterval, lastActivity: now)
    }

    /// Whether deliveries may still be written.
    package var isStreaming: Bool {
        if case .streaming = state { return true }
        return false
    }

    /// The keep-alive sweeper ticked at `now`: the inactivity drop, then the keep-alive interval.
    package mutating func tick(now: NIODeadline) -> Action {
        guard case .streaming(let nextKeepAlive, let lastActivity) = state else { return .none }
        if let inactivityTimeout, now - lastActivity >= inactivityTimeout {
            state = .finishing
            return .finish
        }
        guard now >= nextKeepAlive else { return .none }
        state = .streaming(nextKeepAlive: now + keepAliveInterval, lastActivity: lastActivity)
        return .sendKeepAlive
    }

    /// A message was written or the subscriptions changed: the client is active. Anything written also
    /// keeps the connection alive, so the next keep-alive moves out.
    package mutating func activity(now: NIODeadline, wroteBytes: Bool) {
        guard case .streaming(let nextKeepAlive, _) = state else { return }
        state = .streaming(nextKeepAlive: wroteBytes ? now + keepAliveInterval : nextKeepAlive, lastActivity: now)
    }

    /// The server wants the stream ended (admin drop, shutdown, slow consumer).
    package mutating func closeRequested() -> Action {
        guard case .streaming = state else { return .none }
        state = .finishing
        return .finish
    }

    /// The connection closed.
    package mutating func connectionEnded() -> Action {
        if case .ended = state { return .none }
        state = .ended
        return .cleanUp
    }
}
