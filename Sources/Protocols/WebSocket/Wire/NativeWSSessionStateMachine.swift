package import BusCore
package import NIOCore

/// The native protocol's connection state: authentication, keep-alive and its deadlines, the rules of
/// `subscribe`, and closing. Pure: the handler feeds it events (with the time they happened) and runs the
/// actions it returns (STYLE.md habits 2, 4 and 18).
package struct NativeWSSessionStateMachine {
    private enum State {
        /// Open; `connected` once a `connect` request succeeded (anonymous clients may skip it).
        case open(connected: Bool, awaitingPong: Bool)
        /// Waiting for authentication of a `connect` request.
        case authenticating(awaitingPong: Bool)
        /// A close frame was sent or received; nothing else is processed.
        case closing
    }

    /// The keep-alive and authentication intervals (`limits.*` in the configuration).
    package struct Timers: Sendable, Equatable {
        /// Between server pings (also told to clients in `connected`).
        package var pingInterval: TimeAmount
        /// How long after a ping anything must arrive.
        package var pongTimeout: TimeAmount
        /// How long a client has to authenticate when anonymous access is off.
        package var connectTimeout: TimeAmount

        package init(
            pingInterval: TimeAmount = .seconds(25), pongTimeout: TimeAmount = .seconds(10),
            connectTimeout: TimeAmount = .seconds(10)
        ) {
            self.pingInterval = pingInterval
            self.pongTimeout = pongTimeout
            self.connectTimeout = connectTimeout
        }
    }

    /// What the handler does next: every event that can lead to IO answers with one of these, and the
    /// handler's one `run(_:)` carries it out.
    package enum Action: Equatable {
        /// Nothing to do.
        case none
        /// Carry out the request (the handler asks the bus or the authenticator and replies).
        case handle(NativeWSRequest)
        /// Answer the request with this error; nothing changes.
        case refuse(id: ByteBuffer?, NativeWSErrorCode, String)
        /// Keep the request until the `connect` being checked is answered (a password is hashed off the
        /// event loop), then offer it again: a client may send requests right behind its `connect`.
        case hold(NativeWSRequest)
        /// Subscribe to `filter` (the client spelled it `channel`), reading this history first.
        case subscribe(id: ByteBuffer?, channel: String, TopicFilter, history: HistoryRequest?)
        /// Send a ping frame (the pong window has started).
        case sendPing
        /// Send a close frame with this code and reason, then close the TCP connection.
        case sendCloseAndClose(code: UInt16, reason: String)
        /// Already closing: just drop the connection.
        case closeConnection

        /// The close the server sends for `reason`.
        package static func close(_ reason: NativeWSServerClose) -> Action {
            .sendCloseAndClose(code: reason.code, reason: reason.reason)
        }
    }

    private var state = State.open(connected: false, awaitingPong: false)
    private let anonymousAllowed: Bool
    private let timers: Timers
    private var nextPing = NIODeadline.distantFuture
    private var pongDeadline: NIODeadline?
    private var connectDeadline: NIODeadline?
    /// Requests held while a `connect` is checked (bounded by `maxHeld`).
    private var held = 0
    /// Past this many, requests sent while a `connect` is checked are refused: a client that pipelines
    /// more than a handful before its answer is not waiting for it.
    package static let maxHeld = 64

    package init(anonymousAllowed: Bool, timers: Timers = Timers()) {
        self.anonymousAllowed = anonymousAllowed
        self.timers = timers
    }

    /// The connection was admitted at `now` (`started`): pings start, and without anonymous access the
    /// time to authenticate runs — a socket that never authenticates must not hold a slot.
    package mutating func started(now: NIODeadline) {
        nextPing = now + timers.pingInterval
        if !anonymousAllowed, case .open(connected: false, _) = state { connectDeadline = now + timers.connectTimeout }
    }

    /// The loop's keep-alive sweeper ticked at `now` (`tick`): the connect deadline, then the pong
    /// window, then the ping interval.
    package mutating func tick(now: NIODeadline) -> Action {
        if let deadline = connectDeadline, now >= deadline {
            connectDeadline = nil
            if connectDeadlinePassed() { return .close(.connectTimeout) }
        }
        if let deadline = pongDeadline, now >= deadline {
            pongDeadline = nil
            if pongDeadlinePassed() { return .close(.keepAliveTimeout) }
        }
        guard now >= nextPing else { return .none }
        nextPing = now + timers.pingInterval
        guard pingTimerFired() else { return .none }
        pongDeadline = now + timers.pongTimeout
        return .sendPing
    }

    /// A request arrived (`requestReceived`).
    package mutating func requestReceived(_ request: NativeWSRequest) -> Action {
        switch state {
        case .closing:
            // Dropped: the close handshake is under way.
            return .none
        case .authenticating:
            if case .ping = request.command { return .handle(request) }
            guard held < Self.maxHeld else {
                return .refuse(id: request.id, .badRequest, "a connect request is still being processed")
            }
            held += 1
            return .hold(request)
        case .open(let connected, let awaitingPong):
            switch request.command {
            case .ping:
                return .handle(request)
            case .connect:
                if connected { return .refuse(id: request.id, .badRequest, "already connected") }
                state = .authenticating(awaitingPong: awaitingPong)
                return .handle(request)
            default:
                if !connected && !anonymousAllowed {
                    return .refuse(
                        id: request.id, .unauthorized,
                        "anonymous access is disabled: send a connect request with a token first")
                }
                return .handle(request)
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
        held = 0
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

    /// The ping interval elapsed: a ping goes out unless the connection is closing.
    private mutating func pingTimerFired() -> Bool {
        switch state {
        case .open(let connected, _):
            state = .open(connected: connected, awaitingPong: true)
            return true
        case .authenticating:
            state = .authenticating(awaitingPong: true)
            return true
        case .closing:
            return false
        }
    }

    /// The pong window after a ping ended: true (now closing) when nothing came back since the ping.
    private mutating func pongDeadlinePassed() -> Bool {
        switch state {
        case .open(_, true), .authenticating(true):
            state = .closing
            return true
        default:
            return false
        }
    }

    /// The time to authenticate ran out (set only when anonymous access is off): true (now closing)
    /// when the client is still not connected.
    private mutating func connectDeadlinePassed() -> Bool {
        switch state {
        case .open(connected: false, _), .authenticating:
            state = .closing
            return true
        default:
            return false
        }
    }

    /// The client sent a close frame (`closeReceived`): echo it (RFC 6455 §5.5.1) and close.
    package mutating func closeReceived(code: UInt16?) -> Action {
        if case .closing = state { return .closeConnection }
        state = .closing
        return .sendCloseAndClose(code: code ?? 1000, reason: "")
    }

    /// The server decided to close (`closeRequested`): shutdown, admin, slow consumer, bad frame.
    package mutating func closeRequested(code: UInt16, reason: String) -> Action {
        if case .closing = state { return .closeConnection }
        state = .closing
        return .sendCloseAndClose(code: code, reason: reason)
    }

    package var isClosing: Bool {
        if case .closing = state { return true }
        return false
    }

    // MARK: - subscribe

    /// History asked for with a subscription.
    package enum HistoryRequest: Sendable, Equatable {
        /// The newest `count` messages.
        case last(Int)
        /// Everything after the position; when that is gone, the newest `fallback` messages.
        case recover(LogPosition, fallback: Int)
    }

    /// The client asked to subscribe (`subscribeReceived`), with what the handler knows of the
    /// connection: whether it holds that channel already, how many it holds, and what it may do. The
    /// answer is `.subscribe` or `.refuse`.
    package func subscribeReceived(
        id: ByteBuffer?, channel: String, history: Int?, recover: LogPosition?, topicLimits: TopicLimits,
        permissions: TopicPermissions,
        alreadySubscribed: Bool, subscriptionCount: Int, maxSubscriptions: Int,
        coveredByStream: (TopicFilter) -> Bool = { _ in false }
    ) -> Action {
        let filter: TopicFilter
        do {
            filter = try TopicFilter(channel, limits: topicLimits)
        } catch {
            return .refuse(id: id, .badRequest, "invalid channel \"\(channel)\": \(error)")
        }
        guard !alreadySubscribed else { return .refuse(id: id, .badRequest, "already subscribed to \(channel)") }
        guard subscriptionCount < maxSubscriptions else {
            return .refuse(id: id, .tooLarge, "subscription limit (\(maxSubscriptions)) reached")
        }
        guard permissions.maySubscribe(filter) else {
            return .refuse(id: id, .permissionDenied, "not allowed to subscribe to \(channel)")
        }
        if history != nil || recover != nil {
            if filter.shareGroup != nil {
                return .refuse(
                    id: id, .badRequest, "history and recover need a subscription of its own, not a shared one")
            }
            if filter.hasWildcards && !coveredByStream(filter) {
                return .refuse(
                    id: id, .badRequest,
                    "history and recover on the filter \(channel) need a one-partition stream capturing it"
                        + " (POST /api/streams); none does")
            }
        }
        let request: HistoryRequest? =
            if let recover { .recover(recover, fallback: history ?? 0) } else { history.map { .last($0) } }
        return .subscribe(id: id, channel: channel, filter, history: request)
    }
}
