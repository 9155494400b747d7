package import NIOCore

/// One STOMP connection's lifecycle: CONNECT (version, heart-beat, credentials) → connected → closing.
/// It decides which frames may come when, what CONNECTED says, when heart-beats go out and when a silent
/// client is dropped, and turns every error into one ERROR followed by a close. The frames of a
/// connected session (SEND, SUBSCRIBE, …) go back to the handler as `.handle`. No IO, no clock: time
/// comes with the events.
package struct STOMPSessionStateMachine {
    package struct Configuration: Sendable {
        package var limits = STOMPLimits()
        /// The `server` header of CONNECTED.
        package var serverName = "Switchboard"
        /// How long a connection may stay without a CONNECT.
        package var connectTimeout = TimeAmount.seconds(10)

        package init() {}
    }

    /// A connected session's negotiated terms.
    package struct Session: Sendable, Equatable {
        package var version: STOMPVersion
        /// The server writes at least this often when idle (nil: never).
        package var serverBeat: TimeAmount?
        /// The client is dropped after twice this without a byte from it (nil: never).
        package var clientBeat: TimeAmount?
    }

    /// What a CONNECT asked for, carried while its credentials are checked.
    package struct ConnectRequest: Sendable, Equatable {
        package var version: STOMPVersion
        package var heartBeat: STOMPHeartBeat
        package var login: String?
        package var passcode: String?
        package var host: String?
        package var receipt: String?
    }

    private enum State {
        /// Waiting for CONNECT (or STOMP) since `since`.
        case awaitingConnect(since: NIODeadline)
        /// A CONNECT's credentials are being checked; the handler holds further input.
        case authenticating(ConnectRequest)
        case connected(Session)
        /// An ERROR or a DISCONNECT's RECEIPT went out; the socket closes.
        case closing
    }

    private var state: State
    package let configuration: Configuration
    private var lastReceived: NIODeadline
    private var lastSent: NIODeadline

    package init(configuration: Configuration, now: NIODeadline) {
        self.configuration = configuration
        self.state = .awaitingConnect(since: now)
        self.lastReceived = now
        self.lastSent = now
    }

    /// The negotiated session once connected.
    package var session: Session? {
        if case .connected(let session) = state { return session }
        return nil
    }

    /// How header values are escaped in this connection's frames.
    package var escaping: STOMPEscaping { session?.version.escaping ?? .none }

    package var isClosing: Bool {
        if case .closing = state { return true }
        return false
    }

    // MARK: - Events

    /// What the handler does with a decoded frame.
    package enum FrameAction: Equatable {
        /// Check these credentials, then call `authenticated`.
        case authenticate(ConnectRequest)
        /// A connected session's frame: the handler runs it.
        case handle(STOMPFrame)
        /// DISCONNECT: answer its receipt (if any) and close.
        case disconnect(receipt: String?)
        /// Send this ERROR and close.
        case fail(STOMPError)
        /// Nothing (a frame after the connection started closing).
        case none
    }

    /// Bytes arrived (any frame or heart-beat counts as a sign of life).
    package mutating func dataReceived(now: NIODeadline) {
        lastReceived = now
    }

    /// Bytes were written (the server's heart-beat clock restarts).
    package mutating func dataSent(now: NIODeadline) {
        lastSent = now
    }

    package mutating func frameReceived(_ frame: STOMPFrame) -> FrameAction {
        switch state {
        case .closing:
            return .none
        case .authenticating:
            // The handler holds input while a CONNECT is checked; nothing else reaches here.
            return fail(STOMPError("Illegal command", detail: "A frame arrived while CONNECT was being checked."))
        case .awaitingConnect:
            guard frame.command == .connect || frame.command == .stomp else {
                return fail(
                    STOMPError(
                        "Illegal command", detail: "You must log in using CONNECT first\n", receiptID: frame.receipt))
            }
            return connectReceived(frame)
        case .connected:
            switch frame.command {
            case .connect, .stomp:
                return fail(
                    STOMPError(
                        "Already connected", detail: "A second CONNECT on one connection.", receiptID: frame.receipt))
            case .disconnect:
                state = .closing
                return .disconnect(receipt: frame.receipt)
            case .connected, .message, .receipt, .error:
                return fail(
                    STOMPError(
                        "Illegal command", detail: "\(frame.command.rawValue) is a server frame.\n",
                        receiptID: frame.receipt))
            case .send, .subscribe, .unsubscribe, .ack, .nack, .begin, .commit, .abort:
                return .handle(frame)
            }
        }
    }

    private mutating func connectReceived(_ frame: STOMPFrame) -> FrameAction {
        let headers = frame.headers
        guard let version = STOMPVersion.negotiate(acceptVersion: headers["accept-version"]) else {
            // 1.2 §"Protocol Negotiation": an ERROR with a `version` header naming the versions the server
            // speaks.
            var error = STOMPError(
                "Supported versions are \(STOMPVersion.supportedList)",
                detail: "Supported versions are \(STOMPVersion.supportedList)\n", receiptID: frame.receipt)
            error.headers.append("version", STOMPVersion.supportedList)
            return fail(error)
        }
        guard let heartBeat = STOMPHeartBeat(header: headers["heart-beat"]) else {
            return fail(
                STOMPError(
                    "Invalid heart-beat header", detail: "heart-beat must be two comma-separated integers.",
                    receiptID: frame.receipt))
        }
        let request = ConnectRequest(
            version: version, heartBeat: heartBeat, login: headers["login"], passcode: headers["passcode"],
            host: headers["host"], receipt: frame.receipt)
        state = .authenticating(request)
        return .authenticate(request)
    }

    /// What follows a CONNECT's credential check.
    package enum ConnectAction: Equatable {
        /// Write CONNECTED with these headers; the session is open.
        case sendConnected(STOMPHeaders)
        case fail(STOMPError)
    }

    /// The credentials of the CONNECT were checked; `sessionID` names the session in CONNECTED.
    package mutating func authenticated(_ accepted: Bool, sessionID: String, serverVersion: String) -> ConnectAction {
        guard case .authenticating(let request) = state else {
            return .fail(STOMPError("Illegal command", detail: "No CONNECT is waiting."))
        }
        guard accepted else {
            state = .closing
            return .fail(
                STOMPError(
                    "Access refused", detail: "Access refused for user '\(request.login ?? "")'\n",
                    receiptID: request.receipt))
        }
        let minimum = configuration.limits.minHeartBeatMilliseconds
        let offer = request.heartBeat.serverOffer(minimum: minimum)
        let negotiated = request.heartBeat.negotiated(minimum: minimum)
        let session = Session(
            version: request.version,
            serverBeat: negotiated.serverSends == 0 ? nil : .milliseconds(Int64(negotiated.serverSends)),
            clientBeat: negotiated.clientSends == 0 ? nil : .milliseconds(Int64(negotiated.clientSends)))
        state = .connected(session)
        var headers = STOMPHeaders()
        headers.append("server", "\(configuration.serverName)/\(serverVersion)")
        headers.append("session", sessionID)
        headers.append("heart-beat", "\(offer.sends),\(offer.receives)")
        headers.append("version", request.version.rawValue)
        return .sendConnected(headers)
    }

    /// What the periodic tick asks.
    package enum TickAction: Equatable {
        case none
        /// Write a heart-beat EOL.
        case sendHeartBeat
        /// The client went silent (or never sent CONNECT): close without further ado.
        case close
    }

    package mutating func tick(now: NIODeadline) -> TickAction {
        switch state {
        case .awaitingConnect(let since):
            if now - since >= configuration.connectTimeout {
                state = .closing
                return .close
            }
            return .none
        case .authenticating, .closing:
            return .none
        case .connected(let session):
            // A client whose beats are late by more than one interval is gone (1.2: "the other end MUST
            // consider the connection dead" after a tolerance; twice the interval, as RabbitMQ).
            if let beat = session.clientBeat, now - lastReceived > beat * 2 {
                state = .closing
                return .close
            }
            // The tick runs every ~250 ms: beat once less than one tick is left before the promise lapses.
            if let beat = session.serverBeat, now - lastSent >= beat - .milliseconds(300) {
                lastSent = now
                return .sendHeartBeat
            }
            return .none
        }
    }

    /// An error in a frame or in running it: one ERROR, then the connection closes.
    package mutating func errorRaised(_ error: STOMPError) -> FrameAction {
        fail(error)
    }

    private mutating func fail(_ error: STOMPError) -> FrameAction {
        if case .closing = state { return .none }
        state = .closing
        return .fail(error)
    }
}
