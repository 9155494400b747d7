package import NIOCore

/// The server's PINGs on one connection (a sub-machine of `NATSSessionStateMachine`): when the next one
/// is due, how many went unanswered, and whether the client was heard from since the last interval.
/// Time comes in with each event; the deadline is computed here.
package struct NATSKeepAliveStateMachine: Sendable, Hashable {
    /// What an interval's end asks for.
    package enum Action: Sendable, Hashable {
        /// Send a server `PING`.
        case sendPing
        /// `maxPingsOut` PINGs went unanswered: the connection is stale.
        case closeStale
        /// Nothing is due.
        case none
    }

    private let interval: TimeAmount
    private let maxPingsOut: Int
    private var nextPing: NIODeadline
    private var pingsOutstanding = 0
    private var activeSinceLastPing = false

    /// Starts the first interval at `now`.
    package init(interval: TimeAmount, maxPingsOut: Int, now: NIODeadline) {
        self.interval = interval
        self.maxPingsOut = maxPingsOut
        self.nextPing = now + interval
    }

    /// Bytes arrived: the client is alive, so the next ping can wait.
    package mutating func dataReceived() { activeSinceLastPing = true }

    /// The client answered (any PONG counts for every PING out, as in nats-server).
    package mutating func pongReceived() { pingsOutstanding = 0 }

    /// The keep-alive timer looked at the connection at `now`.
    package mutating func tick(now: NIODeadline) -> Action {
        guard now >= nextPing else { return .none }
        nextPing = now + interval
        // nats-server (`processPingTimer`): ping_max unanswered PINGs → 'Stale Connection'.
        if pingsOutstanding >= maxPingsOut { return .closeStale }
        // nats-server: a client that sent something this interval is alive; skip the ping.
        if activeSinceLastPing && pingsOutstanding == 0 {
            activeSinceLastPing = false
            return .none
        }
        activeSinceLastPing = false
        pingsOutstanding += 1
        return .sendPing
    }
}
