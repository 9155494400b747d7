package import NIOCore

/// One AMQP connection's life on channel 0 (AMQP 0-9-1 §4.2, §2.2.4): the protocol header, start /
/// start-ok with SASL, tune / tune-ok negotiation, open, heartbeats and their deadlines, and the close
/// handshakes. Pure: the handler feeds it events with the time they happened and runs the one action each
/// returns (STYLE.md habits 2, 4 and 18). Channels (20–90 class methods) are the handler's once the
/// machine says the connection is open.
package struct AMQPConnectionStateMachine {
    private enum State {
        /// Nothing read yet: the 8-byte protocol header comes first.
        case awaitingProtocolHeader
        /// connection.start sent.
        case awaitingStartOk
        /// start-ok's credentials are being checked.
        case authenticating(mechanism: String)
        /// connection.tune sent.
        case awaitingTuneOk
        /// tune-ok received: connection.open is next.
        case awaitingOpen
        /// Open: channels may be used.
        case open
        /// connection.close sent: only close and close-ok are read now (§4.2.6), until `closeDeadline`.
        case closing
        /// Done: the socket is being closed.
        case closed
    }

    /// What was agreed in tune / tune-ok.
    package struct Negotiated: Sendable, Equatable {
        package var frameMax: Int
        package var channelMax: UInt16
        /// Seconds; 0 turns heartbeats off.
        package var heartbeatSeconds: UInt16

        package init(frameMax: Int, channelMax: UInt16, heartbeatSeconds: UInt16) {
            self.frameMax = frameMax
            self.channelMax = channelMax
            self.heartbeatSeconds = heartbeatSeconds
        }
    }

    /// What the handler does next.
    package enum Action: Equatable {
        /// Nothing.
        case none
        /// Send connection.start (the protocol header was right).
        case sendStart
        /// Send our protocol header and close (§4.2.2: a header we do not speak).
        case sendProtocolHeaderAndClose
        /// Check these credentials (start-ok), then call `authenticated(_:)`.
        case authenticate(AMQPSASLCredentials, mechanism: String)
        /// Send connection.tune with these proposals.
        case sendTune(AMQPConnectionTune)
        /// The tuning is agreed: apply it (frame-max for the decoder, channel-max, heartbeats).
        case tuned(Negotiated)
        /// Find the virtual host connection.open names ("" is `/`) and check the login may use it, then
        /// call `virtualHostChecked(_:)`.
        case openVirtualHost(String)
        /// Send connection.open-ok: channels may open.
        case sendOpenOk
        /// Check the new secret of connection.update-secret against the login, then call
        /// `secretChecked(_:)`.
        case checkSecret(ByteBuffer)
        /// Send connection.update-secret-ok: the new secret replaced the old one.
        case sendUpdateSecretOk
        /// Send connection.close with this reason; close the socket once close-ok comes or the grace
        /// period passes.
        case sendClose(AMQPClose)
        /// Send connection.close-ok and close the socket (the client closed).
        case sendCloseOkAndClose
        /// Send a heartbeat frame.
        case sendHeartbeat
        /// Close the socket now (close-ok received, or the peer went silent: heartbeat timeout).
        case closeConnection
    }

    private var state = State.awaitingProtocolHeader {
        didSet {
            expectsProtocolHeader = false
            isOpen = false
            isClosing = false
            switch state {
            case .awaitingProtocolHeader: expectsProtocolHeader = true
            case .open: isOpen = true
            case .closing, .closed: isClosing = true
            default: break
            }
        }
    }
    /// The capabilities the client's start-ok said it has (`capabilities` table entries set to true, e.g.
    /// `connection.blocked`, `consumer_cancel_notify`).
    package private(set) var clientCapabilities: Set<String> = []
    private let limits: AMQPLimits
    private var negotiated: Negotiated?
    private var lastReceived: NIODeadline
    private var lastSent: NIODeadline
    private var closeDeadline: NIODeadline?
    private let handshakeDeadline: NIODeadline
    /// How long after our connection.close the socket waits for close-ok.
    package static let closeTimeout = TimeAmount.seconds(3)

    package init(limits: AMQPLimits, now: NIODeadline) {
        self.limits = limits
        self.lastReceived = now
        self.lastSent = now
        // How long a client has to finish the handshake (RabbitMQ's `handshake_timeout`).
        self.handshakeDeadline = now + .seconds(Int64(limits.handshakeTimeoutSeconds))
    }

    /// Open: channel frames may be handled.
    /// (What the frontend asks on every frame is stored, not computed: the connection handler reads it
    /// from another module, and a computed answer made it copy the whole machine per frame.)
    package private(set) var isOpen = false

    /// Closing or closed: input other than close / close-ok is dropped.
    package private(set) var isClosing = false

    /// Waiting for the protocol header.
    package private(set) var expectsProtocolHeader = true

    // MARK: - Events

    /// The protocol header arrived (`protocolHeaderReceived`).
    package mutating func protocolHeaderReceived(_ header: AMQPProtocolHeader, now: NIODeadline) -> Action {
        lastReceived = now
        guard case .awaitingProtocolHeader = state else { preconditionFailure("protocol header read twice") }
        switch header {
        case .amqp0_9_1:
            state = .awaitingStartOk
            return .sendStart
        case .unsupported:
            state = .closed
            return .sendProtocolHeaderAndClose
        }
    }

    /// Some frame arrived: the peer is alive (heartbeats, §4.2.7).
    package mutating func frameReceived(now: NIODeadline) {
        lastReceived = now
    }

    /// Something was written to the peer (a heartbeat is owed only after silence).
    package mutating func frameSent(now: NIODeadline) {
        lastSent = now
    }

    /// A method arrived on channel 0 (`connectionMethodReceived`).
    package mutating func connectionMethodReceived(_ method: AMQPConnectionMethod) -> Action {
        switch (state, method) {
        case (.closed, _):
            return .none
        case (.closing, .closeOk):
            state = .closed
            return .closeConnection
        case (.closing, .close):
            // Both sides closed at once: answer, and we are done.
            state = .closed
            return .sendCloseOkAndClose
        case (.closing, _):
            return .none  // §4.2.6: discarded after connection.close.
        case (_, .close):
            state = .closed
            return .sendCloseOkAndClose
        case (.awaitingStartOk, .startOk(let startOk)):
            do {
                let credentials = try AMQPSASL.credentials(
                    mechanism: startOk.mechanism, response: startOk.response, limits: limits)
                state = .authenticating(mechanism: startOk.mechanism)
                if case .table(let capabilities)? = startOk.clientProperties["capabilities"] {
                    clientCapabilities = Set(
                        capabilities.fields.compactMap { $0.value == .boolean(true) ? $0.name : nil })
                }
                return .authenticate(credentials, mechanism: startOk.mechanism)
            } catch {
                return fail(error)
            }
        case (.awaitingTuneOk, .tuneOk(let tune)):
            return tuneOkReceived(tune)
        case (.awaitingOpen, .open(let virtualHost)):
            return .openVirtualHost(virtualHost.isEmpty ? "/" : virtualHost)
        case (.open, .updateSecret(let secret, _)):
            // RabbitMQ (rabbit_reader): the auth backend checks the secret; update-secret-ok, or 530.
            return .checkSecret(secret)
        default:
            let name = AMQPMethod.name(classID: AMQPConnectionMethod.classID, methodID: method.methodID)
            return fail(
                .exception(.commandInvalid, "unexpected method \(name)", classID: 10, methodID: method.methodID))
        }
    }

    /// The start-ok credentials were checked (`authenticated`).
    package mutating func authenticated(_ accepted: Bool) -> Action {
        guard case .authenticating(let mechanism) = state else {
            if isClosing { return .none }
            preconditionFailure("authenticated without a start-ok")
        }
        guard accepted else { return fail(.authenticationFailed(mechanism: mechanism)) }
        state = .awaitingTuneOk
        return .sendTune(AMQPConnectionTune(limits: limits))
    }

    /// What connection.open's virtual host turned out to be (`openVirtualHost`).
    package enum VirtualHostCheck: Sendable, Equatable {
        case accepted
        /// No such virtual host.
        case notFound(String)
        /// The login may not use it.
        case refused(String, user: String)
    }

    /// The virtual host of connection.open was checked: open-ok, or RabbitMQ's 530 NOT_ALLOWED with its
    /// texts (rabbit_reader / rabbit_access_control: "vhost X not found", the name unquoted, and
    /// "access to vhost 'X' refused for user 'U'").
    package mutating func virtualHostChecked(_ check: VirtualHostCheck) -> Action {
        guard case .awaitingOpen = state else {
            if isClosing { return .none }
            preconditionFailure("virtual host checked outside connection.open")
        }
        switch check {
        case .accepted:
            state = .open
            return .sendOpenOk
        case .notFound(let name):
            return fail(.exception(.notAllowed, "vhost \(name) not found", classID: 10, methodID: 40))
        case .refused(let name, let user):
            return fail(
                .exception(
                    .notAllowed, "access to vhost '\(name)' refused for user '\(user)'", classID: 10, methodID: 40))
        }
    }

    /// The new secret of connection.update-secret was checked (`secretChecked`): update-secret-ok, or
    /// RabbitMQ's 530 NOT_ALLOWED when the backend refused it (rabbit_reader, `handle_method0`).
    package mutating func secretChecked(_ accepted: Bool) -> Action {
        guard case .open = state else {
            if isClosing { return .none }
            preconditionFailure("secret checked outside an open connection")
        }
        guard accepted else {
            return fail(
                .exception(.notAllowed, "New secret was refused by one of the backends", classID: 10, methodID: 70))
        }
        return .sendUpdateSecretOk
    }

    /// A frame for a channel arrived before the connection was open (`channelFrameBeforeOpen`).
    package mutating func channelFrameBeforeOpen() -> Action {
        fail(.exception(.commandInvalid, "channel frame before the connection is open"))
    }

    /// The codec, a channel or the handler raised an error that closes the connection (`errorRaised`).
    package mutating func errorRaised(_ error: AMQPError) -> Action {
        fail(error)
    }

    /// The server closes (shutdown, admin, resource limit): connection.close with `code` (`closeRequested`).
    package mutating func closeRequested(_ code: AMQPReplyCode, _ explanation: String) -> Action {
        switch state {
        case .closing, .closed:
            return .none
        case .awaitingProtocolHeader:
            state = .closed
            return .closeConnection
        default:
            state = .closing
            return .sendClose(AMQPClose(replyCode: code.rawValue, replyText: code.replyText(explanation)))
        }
    }

    /// The keep-alive sweeper ticked (`tick`): the handshake deadline, close-ok deadline, the peer's
    /// silence (two heartbeat intervals, §4.2.7; RabbitMQ closes the socket without a close), our own
    /// heartbeat.
    package mutating func tick(now: NIODeadline) -> Action {
        switch state {
        case .closed:
            return .none
        case .closing:
            if let closeDeadline, now >= closeDeadline {
                state = .closed
                return .closeConnection
            }
            return .none
        case .open:
            break
        default:
            if now >= handshakeDeadline {
                // RabbitMQ closes a socket that does not finish the handshake in time, without a close.
                state = .closed
                return .closeConnection
            }
            return .none
        }
        guard let heartbeat = negotiated?.heartbeatSeconds, heartbeat > 0 else { return .none }
        let interval = TimeAmount.seconds(Int64(heartbeat))
        if now - lastReceived >= interval * 2 {
            state = .closed
            return .closeConnection
        }
        if now - lastSent >= .nanoseconds(interval.nanoseconds / 2) {
            lastSent = now
            return .sendHeartbeat
        }
        return .none
    }

    /// The close-ok deadline starts when the close is written (`closeSent`).
    package mutating func closeSent(now: NIODeadline) {
        closeDeadline = now + Self.closeTimeout
    }

    // MARK: - Rules

    /// tune-ok: checked as RabbitMQ checks it (`AMQPConnectionTune.validateTuneOk`, 530 on a raise);
    /// the heartbeat is the client's choice (0: off).
    private mutating func tuneOkReceived(_ tune: AMQPConnectionTune) -> Action {
        do {
            try tune.validateTuneOk(limits: limits)
        } catch {
            return fail(error)
        }
        let negotiated = Negotiated(
            frameMax: Int(tune.frameMax), channelMax: tune.channelMax, heartbeatSeconds: tune.heartbeat)
        self.negotiated = negotiated
        state = .awaitingOpen
        return .tuned(negotiated)
    }

    private mutating func fail(_ error: AMQPError) -> Action {
        switch state {
        case .closing, .closed:
            return .none
        case .awaitingProtocolHeader:
            state = .closed
            return .closeConnection
        default:
            state = .closing
            var close = error.closeReason(channel: 0).close
            if case .authenticationFailed = error { close.classID = 0; close.methodID = 0 }
            return .sendClose(close)
        }
    }
}
