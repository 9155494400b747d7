import BusCore
package import BusRuntime
package import NIOCore

/// The part of a connection's life every protocol shares, owned by its handler and confined to the
/// handler's loop: the entry in the connection registry (admission under the connection limits, the
/// open/close counters), the loop's keep-alive sweeper, the client's identity and the expiry of its
/// credentials, and one idempotent end that unsubscribes everything (leaving presence) and leaves the
/// registry — whichever of `channelInactive`, `handlerRemoved` or a server-side close comes first.
package struct ConnectionLifecycle {
    /// The connection as the registry, the admin API and presence show it.
    package var info: ConnectionInfo
    /// Who the client is and what it may do; anonymous until the protocol's CONNECT says otherwise.
    package var identity: ClientIdentity {
        _read { yield identityStorage.value }
        set {
            let oldValue = identityStorage.value
            identityStorage = newValue == ClientIdentity.anonymous ? .anonymous : IdentityStorage(newValue)
            // The registry keeps roles and the admin flag for callers known only by a publisher id
            // (ballots cast by publish): told when they change, which is at connect and refresh.
            if isRegistered, newValue.roles != oldValue.roles || newValue.isAdmin != oldValue.isAdmin {
                connections.setAuthority(roles: newValue.roles, isAdmin: newValue.isAdmin, for: info.id)
            }
        }
    }
    /// The identity out of line (~130 B inline in every connection's handler otherwise), one shared
    /// instance for every anonymous client (issue 25).
    private var identityStorage = IdentityStorage.anonymous
    private let connections: ConnectionRegistry
    private let counters: ProtocolCounters
    private let keepAlive: KeepAliveSweepers
    private var sweeper: KeepAliveSweeper?
    /// Holds a slot in the registry (admitted, not yet ended).
    package private(set) var isRegistered = false
    /// `end` has run.
    package private(set) var hasEnded = false

    package init(
        protocolName: String, id: String, connections: ConnectionRegistry, counters: ProtocolCounters,
        keepAlive: KeepAliveSweepers
    ) {
        self.info = ConnectionInfo(id: id, protocolName: protocolName, remoteAddress: nil, connectedAt: 0)
        self.connections = connections
        self.counters = counters
        self.keepAlive = keepAlive
    }

    /// Notes where the client is and when it came (`now`: the bus clock, ns), then takes a slot in the
    /// registry; counts the connection, or the refusal and says which limit refused it.
    package mutating func admit(
        remoteAddress: SocketAddress?, now: UInt64, controller: any ConnectionController
    ) -> AdmissionRefusal? {
        info.remoteAddress = remoteAddress?.clientDescription
        info.connectedAt = Double(now) / 1e9
        return admit(controller: controller)
    }

    /// Takes a slot in the registry for `info` as it stands (filled in by the caller, e.g. from an HTTP
    /// request); counts the connection, or the refusal and says which limit refused it.
    package mutating func admit(controller: any ConnectionController) -> AdmissionRefusal? {
        if let refusal = connections.admit(info, controller: controller) {
            counters.countRefused()
            return refusal
        }
        isRegistered = true
        if !identity.roles.isEmpty || identity.isAdmin {
            connections.setAuthority(roles: identity.roles, isAdmin: identity.isAdmin, for: info.id)
        }
        counters.connectionOpened()
        return nil
    }

    /// Joins the loop's keep-alive sweeper (one per loop, shared by every protocol).
    package mutating func joinKeepAlive(_ participant: any KeepAliveParticipant, on loop: any EventLoop) {
        let sweeper = keepAlive.sweeper(for: loop)
        sweeper.add(participant)
        self.sweeper = sweeper
    }

    /// Whether the client's credentials (a JWT's `exp`) have run out at `now` (the bus clock, ns). True
    /// once: the expiry is then counted and forgotten, and the protocol closes with its own code.
    package mutating func credentialsExpired(now: UInt64) -> Bool {
        guard let expiresAt = identity.expiresAt, Double(now) / 1e9 >= expiresAt else { return false }
        identity.expiresAt = nil
        counters.countExpired()
        return true
    }

    /// Records a change of the registry entry (user, name, subscriptions) for the admin API.
    package mutating func update(_ change: (inout ConnectionInfo) -> Void) {
        change(&info)
        connections.update(info.id, change)
    }

    /// Ends the connection's part in the server, once: leaves the sweeper, ends `subscriptions` on `bus`
    /// (leaving presence) and leaves the registry, counting the close. False when it had already ended.
    @discardableResult
    package mutating func end(
        _ participant: any KeepAliveParticipant, bus: Bus, subscriptions: some Sequence<BusSubscription>
    ) -> Bool {
        guard !hasEnded else { return false }
        hasEnded = true
        sweeper?.remove(participant)
        sweeper = nil
        for subscription in subscriptions { bus.unsubscribe(subscription, presenceClientID: info.id) }
        if isRegistered, connections.remove(info.id) { counters.connectionClosed() }
        isRegistered = false
        return true
    }
}

extension ConnectionLifecycle {
    /// How long a connection the server closes has to take its last bytes (an error, a close frame): a
    /// client that stopped reading must not hold the connection open.
    package static let closeGracePeriod = TimeAmount.seconds(2)

    /// Writes and flushes `last`, then closes the channel once it is written, or after
    /// `closeGracePeriod`, whichever comes first. Call on the channel's loop.
    package static func writeAndClose(_ last: NIOAny, context: ChannelHandlerContext) {
        let channel = context.channel
        context.writeAndFlush(last).whenComplete { _ in channel.close(promise: nil) }
        channel.eventLoop.scheduleTask(in: closeGracePeriod) { channel.close(promise: nil) }
    }
}

/// A protocol's connection handler: its connection ends once, in `connectionEnded()`, whichever comes
/// first of `channelInactive` (either side closed) and `handlerRemoved` (the pipeline let it go).
package protocol FrontendConnectionHandler: ChannelInboundHandler {
    /// The handler's context while it is in a pipeline; cleared when it is removed.
    var context: ChannelHandlerContext? { get set }
    /// Releases what the connection holds — `lifecycle.end(…)` first, which makes a second call a no-op.
    func connectionEnded()
}

extension FrontendConnectionHandler {
    /// Stops or resumes reading from the socket (publisher flow control, store backpressure); NIO reads
    /// again at once when `autoRead` comes back.
    package func setReading(_ on: Bool) {
        guard let channel = context?.channel else { return }
        channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { _ in }
    }

    package func channelInactive(context: ChannelHandlerContext) {
        connectionEnded()
        context.fireChannelInactive()
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        connectionEnded()
        self.context = nil
    }
}

/// A connection's identity, held by reference: set at connect (and token refresh), read on every publish.
private final class IdentityStorage: Sendable {
    let value: ClientIdentity

    init(_ value: ClientIdentity) { self.value = value }

    static let anonymous = IdentityStorage(.anonymous)
}
