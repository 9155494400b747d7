/// The native protocol's connection state: authentication, keep-alive and closing. Pure: the handler
/// feeds it events and runs the actions it returns (STYLE.md habit 2).
package struct NativeWSSessionStateMachine {
    private enum State {
        /// Open; `connected` once a `connect` request succeeded (anonymous clients may skip it).
        case open(connected: Bool, awaitingPong: Bool)
        /// Waiting for authentication of a `connect` request.
        case authenticating(awaitingPong: Bool)
        /// A close frame was sent or received; nothing else is processed.
        case closing
    }

    private var state = State.open(connected: false, awaitingPong: false)
    private let anonymousAllowed: Bool

    package init(anonymousAllowed: Bool) {
        self.anonymousAllowed = anonymousAllowed
    }

    /// What to do with a request.
    package enum RequestAction {
        /// Carry it out.
        case handle
        /// Answer with this error.
        case refuse(NativeWSErrorCode, String)
        /// The connection is closing: drop it.
        case ignore
    }

    /// A request arrived (`requestReceived`).
    package mutating func requestReceived(_ command: NativeWSCommand) -> RequestAction {
        switch state {
        case .closing:
            return .ignore
        case .authenticating:
            if case .ping = command { return .handle }
            return .refuse(.badRequest, "a connect request is still being processed")
        case .open(let connected, let awaitingPong):
            switch command {
            case .ping:
                return .handle
            case .connect:
                if connected { return .refuse(.badRequest, "already connected") }
                state = .authenticating(awaitingPong: awaitingPong)
                return .handle
            default:
                if !connected && !anonymousAllowed {
                    return .refuse(
                        .unauthorized, "anonymous access is disabled: send a connect request with a token first")
                }
                return .handle
            }
        }
    }

    /// The upgrade request's credentials were accepted: connected from the start (a `connect` is then
    /// refused as "already connected").
    package mutating func connectedByUpgrade() {
        guard case .open(_, let awaitingPong) = state else { return }
        state = .open(connected: true, awaitingPong: awaitingPong)
    }

    /// The `connect` request's credentials were accepted or refused.
    package mutating func authenticated(_ accepted: Bool) {
        guard case .authenticating(let awaitingPong) = state else { return }
        state = .open(connected: accepted, awaitingPong: awaitingPong)
    }

    /// Any frame arrived: the peer is alive.
    package mutating func frameReceived() {
        switch state {
        case .open(let connected, _): state = .open(connected: connected, awaitingPong: false)
        case .authenticating: state = .authenticating(awaitingPong: false)
        case .closing: break
        }
    }

    package enum KeepAliveAction: Equatable {
        case sendPing
        case none
    }

    /// The ping interval elapsed (`pingTimerFired`).
    package mutating func pingTimerFired() -> KeepAliveAction {
        switch state {
        case .open(let connected, _):
            state = .open(connected: connected, awaitingPong: true)
            return .sendPing
        case .authenticating:
            state = .authenticating(awaitingPong: true)
            return .sendPing
        case .closing:
            return .none
        }
    }

    package enum PongDeadlineAction: Equatable {
        /// Nothing came back since the ping: close the connection.
        case closeForTimeout
        case none
    }

    /// The pong window after a ping ended (`pongDeadlinePassed`).
    package mutating func pongDeadlinePassed() -> PongDeadlineAction {
        switch state {
        case .open(_, true), .authenticating(true):
            state = .closing
            return .closeForTimeout
        default:
            return .none
        }
    }

    /// The time to authenticate ran out (`connectDeadlinePassed`, scheduled only when anonymous access is off).
    package mutating func connectDeadlinePassed() -> PongDeadlineAction {
        switch state {
        case .open(connected: false, _), .authenticating:
            state = .closing
            return .closeForTimeout
        default:
            return .none
        }
    }

    package enum CloseAction: Equatable {
        /// Send a close frame with this code, then close the TCP connection.
        case sendCloseAndClose(code: UInt16, reason: String)
        /// Already closing: just drop the connection.
        case closeConnection
    }

    /// The client sent a close frame (`closeReceived`): echo it (RFC 6455 §5.5.1) and close.
    package mutating func closeReceived(code: UInt16?) -> CloseAction {
        if case .closing = state { return .closeConnection }
        state = .closing
        return .sendCloseAndClose(code: code ?? 1000, reason: "")
    }

    /// The server decided to close (`closeRequested`): shutdown, admin, slow consumer, bad frame.
    package mutating func closeRequested(code: UInt16, reason: String) -> CloseAction {
        if case .closing = state { return .closeConnection }
        state = .closing
        return .sendCloseAndClose(code: code, reason: reason)
    }

    package var isClosing: Bool {
        if case .closing = state { return true }
        return false
    }
}
