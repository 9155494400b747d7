/// One NATS connection's protocol state: whether CONNECT has been accepted, verbose mode, and the
/// server's keep-alive pings. Pure: the handler feeds it facts and runs the actions it returns.
package struct NATSSessionStateMachine: Sendable {
    private enum State {
        /// Before an accepted CONNECT. Without authentication the reference server accepts other
        /// operations here too (telnet demos); with it, anything but CONNECT is a violation.
        case awaitingConnect
        /// CONNECT accepted.
        case open(verbose: Bool)
        /// An error or the server closed it; nothing more is handled.
        case closed
    }

    /// What to do with an operation other than CONNECT.
    package enum OperationAction: Equatable {
        /// Handle it; `acknowledge` asks for `+OK` after it (verbose mode).
        case handle(acknowledge: Bool)
        /// Send the error and close.
        case refuse(NATSProtocolError)
        /// The connection is closing: drop it.
        case ignore
    }

    /// What to do with CONNECT.
    package enum ConnectAction: Equatable {
        case accept(acknowledge: Bool)
        case refuse(NATSProtocolError)
        case ignore
    }

    /// What the ping timer asks for.
    package enum PingAction: Equatable {
        case sendPing
        case closeStale
        case none
    }

    private var state = State.awaitingConnect
    private let authenticationRequired: Bool
    private let maxPingsOut: Int
    private var pingsOutstanding = 0
    private var activeSinceLastTimer = false

    package init(authenticationRequired: Bool, maxPingsOut: Int) {
        self.authenticationRequired = authenticationRequired
        self.maxPingsOut = maxPingsOut
    }

    package var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// Bytes arrived: the client is alive, so the next ping can wait.
    package mutating func dataReceived() { activeSinceLastTimer = true }

    package mutating func operationReceived() -> OperationAction {
        switch state {
        case .awaitingConnect:
            if authenticationRequired {
                state = .closed
                return .refuse(.authorizationViolation)
            }
            return .handle(acknowledge: false)
        case .open(let verbose):
            return .handle(acknowledge: verbose)
        case .closed:
            return .ignore
        }
    }

    /// CONNECT arrived; `authenticated` is the authenticator's verdict on its credentials.
    package mutating func connectReceived(_ options: NATSConnectOptions, authenticated: Bool) -> ConnectAction {
        if case .closed = state { return .ignore }
        if options.protocolLevel < 0 || options.protocolLevel > 1 { return refuse(.badClientProtocol) }
        if options.noResponders && !options.headers { return refuse(.noRespondersRequiresHeaders) }
        if !authenticated { return refuse(.authorizationViolation) }
        state = .open(verbose: options.verbose)
        return .accept(acknowledge: options.verbose)
    }

    /// A protocol error found by the parser or the handler.
    package mutating func errorOccurred(_ error: NATSProtocolError) -> OperationAction {
        if case .closed = state { return .ignore }
        if error.closesConnection { state = .closed }
        return .refuse(error)
    }

    package mutating func pongReceived() { pingsOutstanding = 0 }

    /// The ping interval elapsed.
    package mutating func pingTimerFired() -> PingAction {
        if case .closed = state { return .none }
        if pingsOutstanding >= maxPingsOut {
            state = .closed
            return .closeStale
        }
        // As the reference server: a client that sent something this interval is alive; skip the ping.
        if activeSinceLastTimer && pingsOutstanding == 0 {
            activeSinceLastTimer = false
            return .none
        }
        activeSinceLastTimer = false
        pingsOutstanding += 1
        return .sendPing
    }

    /// The CONNECT deadline passed (set only when authentication is required).
    package mutating func authenticationTimerFired() -> Bool {
        guard case .awaitingConnect = state else { return false }
        state = .closed
        return true
    }

    /// The server closes the connection (shutdown, administrator, slow consumer).
    package mutating func closeRequested() -> Bool {
        if case .closed = state { return false }
        state = .closed
        return true
    }

    private mutating func refuse(_ error: NATSProtocolError) -> ConnectAction {
        state = .closed
        return .refuse(error)
    }
}
