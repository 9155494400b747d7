package import BusCore
package import NIOCore

/// One NATS connection's protocol state, in the shape of postgres-nio's `ConnectionStateMachine`: every
/// event carries its input (the operation, the authenticator's verdict, the time), every event returns
/// a command (`Action`), and the handler's one `run(_:)` does the IO. Pure: no channel, bus or clock.
/// Sub-machines: `NATSKeepAliveStateMachine` (server PINGs) and `NATSSubscriptionsStateMachine` (sids).
///
/// PUB/HPUB, the hot path, has an event of its own (`publishReceived(hasHeaders:)`) that reads one
/// stored field and returns a small enum; the subject checks run only for a subject not published to
/// just before (`publishSubjectReceived`), since the handler keeps the last one.
package struct NATSSessionStateMachine: Sendable {
    /// What the machine is told once, when the connection is made.
    package struct Configuration: Sendable, Hashable {
        /// Anonymous access is off: CONNECT must come first, within `limits.authTimeoutSeconds`.
        package var authenticationRequired: Bool
        package var limits: NATSLimits
        /// The bus's bounds on topic names and filters (subjects are checked against them).
        package var topicLimits: TopicLimits

        package init(
            authenticationRequired: Bool, limits: NATSLimits = NATSLimits(), topicLimits: TopicLimits = .default
        ) {
            self.authenticationRequired = authenticationRequired
            self.limits = limits
            self.topicLimits = topicLimits
        }

        /// A configuration held by reference, which any number of machines share.
        package final class Shared: Sendable {
            package let value: Configuration

            package init(_ value: Configuration) { self.value = value }
        }
    }

    /// What CONNECT settled (nats-server's defaults before it: no verbose, no headers, echo on).
    package struct Session: Sendable, Hashable {
        /// `+OK` after PUB, SUB, UNSUB and CONNECT.
        package var verbose = false
        /// The client takes `HMSG` and may send `HPUB`.
        package var headers = false
        /// A request reaching no subscriber is answered with a 503 status message.
        package var noResponders = false
        /// The connection's own publications come back to its subscriptions.
        package var echo = true
        /// Subjects are checked strictly: a PUB to a subject with a wildcard or an empty token is refused
        /// (nats-server's `pedantic`); otherwise it is taken, its `*`/`>` tokens as literal levels.
        package var pedantic = false

        package init() {}

        init(_ options: NATSConnectOptions) {
            verbose = options.verbose
            headers = options.headers
            noResponders = options.noResponders
            echo = options.echo
            pedantic = options.pedantic
        }
    }

    private enum State: Sendable {
        /// Made, not yet started (no INFO sent).
        case initialized
        /// INFO sent, no CONNECT accepted yet. Without authentication the reference server accepts other
        /// operations here too (telnet demos); with it, anything but CONNECT is a violation, and CONNECT
        /// must come before `authenticationDeadline`.
        case awaitingConnect(authenticationDeadline: NIODeadline?)
        /// CONNECT accepted.
        case open
        /// An error, the client or the server ended it; nothing more is handled.
        case closed
    }

    /// Every command the handler runs. Actions that follow an operation a verbose client expects an
    /// answer to carry `acknowledge`: write `+OK` after running them.
    package enum Action: Sendable, Hashable {
        /// Nothing to do.
        case none
        /// Write INFO, the first thing on every connection.
        case sendInfo
        /// Write INFO again with `"ldm":true`: the server is in lame-duck mode and will close the
        /// connection soon (clients call their lame-duck callback and may move to another server).
        case sendLameDuckInfo
        /// Write `+OK` (verbose mode).
        case acknowledge
        /// Write `PONG` once everything this connection published before has been written to every
        /// subscriber (nats-server: PING is a flush barrier; nats.py's `flush()` relies on it).
        case sendPong
        /// Write a server `PING`.
        case sendPing
        /// Write `-ERR '…'`; the connection stays open.
        case sendError(NATSProtocolError)
        /// Write `-ERR '…'`, then close once it is written.
        case sendErrorAndClose(NATSProtocolError)
        /// Close without a word (nats-server on shutdown: clients reconnect on their own).
        case close
        /// The outbound buffer is full: count a slow consumer and close, outside the delivery in
        /// progress (closing unsubscribes) and without writing more.
        case closeSlowConsumer
        /// CONNECT accepted: record the client's `name` and the authenticated user.
        case acceptConnect(name: String?, acknowledge: Bool)
        /// Subscribe `sid` to `filter`; `noLocal` keeps the connection's own publications away (`echo: false`).
        case subscribe(sid: String, subject: String, filter: TopicFilter, noLocal: Bool, acknowledge: Bool)
        /// End the subscription `sid`.
        case unsubscribe(sid: String, acknowledge: Bool)
        /// End `sid` once it has delivered `maxMessages` in total (`UNSUB <sid> <max>`).
        case limitDeliveries(sid: String, maxMessages: Int, acknowledge: Bool)
        /// Write the 503 status message for a request nobody received to the requester's own
        /// subscription on `replyTopic` (nats-server sends it to the requester alone).
        case sendNoResponders(replySubject: ByteBuffer, replyTopic: Topic)
    }

    /// What to do with a PUB or HPUB (the hot path: a small enum, no payload to copy).
    package enum PublishAction: Sendable, Hashable {
        /// Publish it; then `+OK` when `acknowledge`.
        case publish(acknowledge: Bool)
        /// Refused: write the error and close (every refusal of a PUB before its subject is read closes).
        case refuseAndClose(NATSProtocolError)
        /// The connection is closed: drop it.
        case ignore
    }

    /// Where a PUB's subject (or reply subject) goes.
    package enum PublishSubjectAction: Sendable, Hashable {
        /// The bus topic.
        case publish(Topic)
        /// Refused (`-ERR`, the connection stays).
        case refuse(NATSProtocolError)
    }

    private var state = State.initialized {
        didSet { if case .closed = state { isClosed = true } }
    }
    /// Whether the connection is closed. Stored, not matched from `state`: read per read and per delivery.
    package private(set) var isClosed = false
    /// What CONNECT settled; the defaults before it.
    package private(set) var session = Session()
    /// Shared by every connection of a frontend (`Configuration.Shared`): 8 bytes per connection, not 80.
    private let sharedConfiguration: Configuration.Shared
    private var configuration: Configuration { _read { yield sharedConfiguration.value } }
    private var keepAlive: NATSKeepAliveStateMachine?
    private var subscriptions: NATSSubscriptionsStateMachine
    /// What the authenticated client may publish and subscribe to.
    private var permissions: TopicPermissions { _read { yield permissionsStorage.value } }
    /// `permissions` by reference, one shared instance for every unrestricted client (~60 bytes inline
    /// in every connection otherwise; issue 25).
    private var permissionsStorage = PermissionsStorage.unrestricted

    package init(configuration: Configuration) {
        self.init(configuration: Configuration.Shared(configuration))
    }

    /// A machine on a configuration its frontend made once for all its connections.
    package init(configuration: Configuration.Shared) {
        self.sharedConfiguration = configuration
        self.subscriptions = NATSSubscriptionsStateMachine(
            maxSubscriptions: configuration.value.limits.maxSubscriptions, topicLimits: configuration.value.topicLimits)
    }

    // MARK: - Connection

    /// The connection is up at `now`: INFO goes first; the CONNECT deadline and the first ping interval
    /// start here.
    package mutating func connectionStarted(now: NIODeadline) -> Action {
        guard case .initialized = state else { preconditionFailure("connection started twice (state: \(state))") }
        let limits = configuration.limits
        keepAlive = NATSKeepAliveStateMachine(
            interval: .seconds(Int64(limits.pingIntervalSeconds)), maxPingsOut: limits.maxPingsOut, now: now)
        // nats-server: -ERR 'Authentication Timeout' when no CONNECT comes within auth_timeout.
        let deadline: NIODeadline? =
            configuration.authenticationRequired ? now + .seconds(Int64(limits.authTimeoutSeconds)) : nil
        state = .awaitingConnect(authenticationDeadline: deadline)
        return .sendInfo
    }

    /// Bytes arrived: the client is alive.
    package mutating func dataReceived() { keepAlive?.dataReceived() }

    /// CONNECT arrived; `authenticated` is the authenticator's verdict on its credentials and
    /// `permissions` what the authenticated client may do.
    package mutating func connectReceived(
        _ options: NATSConnectOptions, authenticated: Bool, permissions: TopicPermissions = .unrestricted
    ) -> Action {
        switch state {
        case .initialized:
            preconditionFailure("CONNECT before the connection started")
        case .closed:
            return .none
        case .awaitingConnect, .open:
            // A repeated CONNECT replaces the options, as in nats-server.
            break
        }
        // nats-server: -ERR 'invalid client protocol' for a protocol level it does not know.
        if options.protocolLevel < 0 || options.protocolLevel > 1 { return closing(.badClientProtocol) }
        // nats-server: the 503 of no-responders is a header-only message.
        if options.noResponders && !options.headers { return closing(.noRespondersRequiresHeaders) }
        if !authenticated { return closing(.authorizationViolation) }
        state = .open
        session = Session(options)
        self.permissionsStorage = permissions == .unrestricted ? .unrestricted : PermissionsStorage(permissions)
        return .acceptConnect(name: options.name, acknowledge: options.verbose)
    }

    /// The keep-alive timer looked at the connection at `now`; `credentialsExpired` says whether the
    /// client's token ran out since the last look.
    package mutating func tick(now: NIODeadline, credentialsExpired: Bool = false) -> Action {
        switch state {
        case .initialized:
            preconditionFailure("keep-alive tick before the connection started")
        case .closed:
            return .none
        case .awaitingConnect(let deadline):
            if let deadline, now >= deadline { return closing(.authenticationTimeout) }
        case .open:
            break
        }
        if credentialsExpired { return closing(.userAuthenticationExpired) }
        guard let action = keepAlive?.tick(now: now) else {
            preconditionFailure("started without a keep-alive (state: \(state))")
        }
        switch action {
        case .sendPing: return .sendPing
        // nats-server: -ERR 'Stale Connection'.
        case .closeStale: return closing(.staleConnection)
        case .none: return .none
        }
    }

    // MARK: - Operations

    /// `PUB`/`HPUB` (the hot path: one stored-field read when nothing is wrong).
    package mutating func publishReceived(hasHeaders: Bool) -> PublishAction {
        switch state {
        case .open:
            // nats-server refuses HPUB from a client that did not ask for headers and closes.
            if hasHeaders && !session.headers { return refusingPublish(.headersNotEnabled) }
            return .publish(acknowledge: session.verbose)
        case .awaitingConnect:
            if configuration.authenticationRequired { return refusingPublish(.authorizationViolation) }
            if hasHeaders { return refusingPublish(.headersNotEnabled) }
            return .publish(acknowledge: false)
        case .closed:
            return .ignore
        case .initialized:
            preconditionFailure("PUB before the connection started")
        }
    }

    /// The subject of a PUB that is not the one published to just before: the topic it maps to, or a
    /// refusal. `isReply`: the reply subject of a request (checked as a subject, not as a permission).
    package func publishSubjectReceived(_ subject: String, isReply: Bool = false) -> PublishSubjectAction {
        guard
            let name = try? NATSSubjectMapping.topicName(
                forSubject: subject, literalWildcards: !isReply && !session.pedantic),
            let topic = try? Topic(name, limits: configuration.topicLimits)
        else {
            // nats-server in pedantic mode: -ERR 'Invalid Publish Subject' (a wildcard or not a subject), the
            // connection stays. Without it nats-server takes any subject; a wildcard token is then stored
            // and delivered as a literal level (KV's `purge("a.*")`), and only what no topic can spell is
            // refused.
            return .refuse(.invalidPublishSubject)
        }
        // nats-server: -ERR 'Permissions Violation for Publish to "…"', the connection stays.
        if !isReply && !permissions.mayPublish(topic) { return .refuse(.publishPermissionsViolation(subject)) }
        return .publish(topic)
    }

    /// A request of this connection (reply subject `replySubject`, topic `replyTopic`) reached no
    /// subscriber. nats-server (`no_responders`): answered at once with a 503 status message, when the
    /// client asked for it.
    package func requestFoundNoSubscribers(replySubject: ByteBuffer, replyTopic: Topic) -> Action {
        guard case .open = state, session.noResponders else { return .none }
        return .sendNoResponders(replySubject: replySubject, replyTopic: replyTopic)
    }

    /// Whether a request's delivery has to be watched for `requestFoundNoSubscribers` (so a client that
    /// did not ask for no-responders costs nothing per request).
    package var answersNoResponders: Bool { session.noResponders && !isClosed }

    /// `SUB <subject> [queue] <sid>`.
    package mutating func subscribeReceived(subject: String, queue: String?, sid: String) -> Action {
        guard let acknowledge = operationAdmitted() else { return rejectedOperation() }
        switch subscriptions.subscribeReceived(subject: subject, queue: queue, sid: sid, permissions: permissions) {
        case .subscribe(let filter):
            return .subscribe(
                sid: sid, subject: subject, filter: filter, noLocal: !session.echo, acknowledge: acknowledge)
        case .alreadySubscribed:
            return acknowledge ? .acknowledge : .none
        case .refuse(let error):
            return errorOccurred(error)
        }
    }

    /// `UNSUB <sid> [max]`; `delivered` is how many messages `sid` has delivered so far (0 for an
    /// unknown sid).
    package mutating func unsubscribeReceived(sid: String, maxMessages: Int?, delivered: Int) -> Action {
        guard let acknowledge = operationAdmitted() else { return rejectedOperation() }
        switch subscriptions.unsubscribeReceived(sid: sid, maxMessages: maxMessages, delivered: delivered) {
        case .unsubscribe:
            return .unsubscribe(sid: sid, acknowledge: acknowledge)
        case .limitDeliveries(let maximum):
            return .limitDeliveries(sid: sid, maxMessages: maximum, acknowledge: acknowledge)
        case .unknownSID:
            return acknowledge ? .acknowledge : .none
        }
    }

    /// The subscription `sid` delivered the last message its `UNSUB <sid> <max>` allowed.
    package mutating func deliveryLimitReached(sid: String) -> Action {
        if case .closed = state { return .none }
        subscriptions.deliveryLimitReached(sid: sid)
        return .unsubscribe(sid: sid, acknowledge: false)
    }

    /// `PING` from the client. As nats-server, verbose mode does not acknowledge PING or PONG.
    package mutating func pingReceived() -> Action {
        guard operationAdmitted() != nil else { return rejectedOperation() }
        return .sendPong
    }

    /// `PONG` from the client: the server's PINGs are answered.
    package mutating func pongReceived() -> Action {
        guard operationAdmitted() != nil else { return rejectedOperation() }
        keepAlive?.pongReceived()
        return .none
    }

    /// `INFO`, `+OK` or `-ERR` from a client: valid, and without effect on a client connection.
    package mutating func ignorableOperationReceived() -> Action {
        guard operationAdmitted() != nil else { return rejectedOperation() }
        return .none
    }

    // MARK: - Errors and closing

    /// A protocol error found by the parser or the handler (e.g. a malformed header block). The one
    /// place an error becomes a command: `NATSProtocolError.closesConnection` says which.
    package mutating func errorOccurred(_ error: NATSProtocolError) -> Action {
        switch state {
        case .closed: return .none
        case .initialized: preconditionFailure("protocol error \(error) before the connection started")
        case .awaitingConnect, .open: break
        }
        return error.closesConnection ? closing(error) : .sendError(error)
    }

    /// The server ends the connection: `error` is what the client is told (nil: nothing, as on shutdown).
    /// Refused admission, the administrator, the slow-consumer policy and the shared keep-alive come here.
    package mutating func closeRequested(_ error: NATSProtocolError?) -> Action {
        if case .closed = state { return .none }
        state = .closed
        guard let error else { return .close }
        return .sendErrorAndClose(error)
    }

    /// The server entered lame-duck mode: a client that has had its INFO hears about it (nats-server sends
    /// the `ldm` INFO to every client connection, with or without CONNECT).
    package mutating func lameDuckEntered() -> Action {
        switch state {
        case .initialized, .closed: return .none
        case .awaitingConnect, .open: return .sendLameDuckInfo
        }
    }

    /// A delivery found the outbound buffer past `max_pending` (nats-server: a slow consumer is closed).
    package mutating func outboundOverflowed() -> Action {
        if case .closed = state { return .none }
        state = .closed
        return .closeSlowConsumer
    }

    /// The channel is gone: nothing more is handled and nothing is subscribed.
    package mutating func connectionEnded() {
        state = .closed
        subscriptions.removeAll()
    }

    // MARK: - Helpers

    /// Whether a non-CONNECT operation may run now, and whether a verbose client expects `+OK` after
    /// it; nil when it may not (`rejectedOperation` says what to do instead).
    private func operationAdmitted() -> Bool? {
        switch state {
        case .open: return session.verbose
        case .awaitingConnect: return configuration.authenticationRequired ? nil : false
        case .closed: return nil
        case .initialized: preconditionFailure("operation before the connection started")
        }
    }

    /// What to do with an operation `operationAdmitted` did not admit.
    private mutating func rejectedOperation() -> Action {
        refusalBeforeConnect() ?? Action.none
    }

    /// nats-server with authentication on: anything but CONNECT first is an 'Authorization Violation'.
    private mutating func refusalBeforeConnect() -> Action? {
        guard case .awaitingConnect = state, configuration.authenticationRequired else { return nil }
        return closing(.authorizationViolation)
    }

    private mutating func refusingPublish(_ error: NATSProtocolError) -> PublishAction {
        state = .closed
        return .refuseAndClose(error)
    }

    private mutating func closing(_ error: NATSProtocolError) -> Action {
        state = .closed
        return .sendErrorAndClose(error)
    }
}

/// A client's permissions, held by reference by its machine.
private final class PermissionsStorage: Sendable {
    let value: TopicPermissions

    init(_ value: TopicPermissions) { self.value = value }

    static let unrestricted = PermissionsStorage(.unrestricted)
}
