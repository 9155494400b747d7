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

    /// What a timer tick asks for.
    package enum TickAction: Equatable {
        case none
        /// Write a keep-alive comment and flush.
        case sendKeepAlive
        /// End the stream: the realtime client was inactive too long.
        case finishForInactivity
    }

    /// What a close request asks for.
    package enum CloseAction: Equatable {
        case none
        /// End the body and close the connection.
        case finish
    }

    /// What the connection closing asks for.
    package enum EndAction: Equatable {
        case none
        /// Unsubscribe and unregister.
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

    package mutating func tick(now: NIODeadline) -> TickAction {
        guard case .streaming(let nextKeepAlive, let lastActivity) = state else { return .none }
        if let inactivityTimeout, now - lastActivity >= inactivityTimeout {
            state = .finishing
            return .finishForInactivity
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
    package mutating func closeRequested() -> CloseAction {
        guard case .streaming = state else { return .none }
        state = .finishing
        return .finish
    }

    /// The connection closed.
    package mutating func connectionEnded() -> EndAction {
        if case .ended = state { return .none }
        state = .ended
        return .cleanUp
    }
}
