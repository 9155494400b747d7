public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
public import RedisWire

/// A pipelined Redis client over one connection (RESP3, RESP2 as a fallback). Commands may be sent from
/// any thread, many at a time; Redis answers in order and each future gets its own reply. On RESP3 the
/// same connection carries commands and pub/sub messages. When the connection drops, commands in flight
/// fail with `.connectionClosed`, new ones with `.notConnected`, and the client reconnects with capped
/// exponential backoff, then says HELLO, SELECTs its database and subscribes again to everything it was
/// subscribed to.
///
/// Every mutable property is confined to `eventLoop` (the connection's loop too), which is what makes the
/// class `Sendable`: public methods hop onto the loop before touching them.
public final class RedisClient: @unchecked Sendable {
    /// Where the connection is.
    private enum State {
        /// Not connected yet: `connect()` has not been called, or its first attempt failed.
        case idle
        /// A connection attempt (TCP, TLS, HELLO, SELECT, resubscribing) is under way.
        case connecting
        /// Ready: commands go to this connection.
        case connected(any Channel, RedisConnectionHandler)
        /// Dropped; the next attempt is scheduled.
        case waitingToReconnect(Scheduled<Void>)
        /// `close()` was called.
        case closed
    }

    public let eventLoop: any EventLoop
    public let configuration: RedisClientConfiguration
    let logger: Logger
    private var state = State.idle
    private var backoff: RedisBackoff
    /// What this client is subscribed to, by kind and name, and who receives it.
    private var subscriptions: [RedisSubscriptionKind: [String: RedisMessageHandler]] = [:]
    /// Through Sentinel: the sentinels in the order to ask them (the last that answered first), the
    /// master the connection is to, and the client watching a sentinel's `+switch-master` announcements
    /// (`RedisClient+Sentinel.swift`).
    var sentinelOrder: [RedisAddress]
    var master: RedisAddress?
    var sentinelWatcher: RedisClient?
    /// Told (on `eventLoop`) when the connection becomes ready (true: resubscribed, taking commands) and
    /// when it drops (false).
    private var connectionObservers: [@Sendable (Bool) -> Void] = []
    private var shardUnsubscribeObservers: [@Sendable (String) -> Void] = []
    /// Where each attempt (not through Sentinel) dials, in turn, when set: the nodes of a Redis Cluster the
    /// connection may move to (`dial(_:)`). Unset: the configuration's `addresses`.
    private var addressesToDial: (@Sendable () -> [RedisAddress])?

    /// From now on each connection attempt dials what `addresses` gives (asked on `eventLoop`, at each
    /// attempt), in turn, the address of the connection that dropped last going last; an empty list falls back to the
    /// configuration's. A Redis Cluster's control connection moves this way to another live node.
    public func dial(_ addresses: @escaping @Sendable () -> [RedisAddress]) {
        onLoop { self.addressesToDial = addresses }
    }

    /// Calls `observer` on `eventLoop` each time the connection becomes ready or drops.
    public func observeConnection(_ observer: @escaping @Sendable (Bool) -> Void) {
        onLoop { self.connectionObservers.append(observer) }
    }

    public init(configuration: RedisClientConfiguration, eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.backoff = RedisBackoff(
            initial: configuration.reconnectInitialDelay, maximum: configuration.reconnectMaxDelay)
        self.sentinelOrder = configuration.sentinel?.sentinels ?? []
    }

    /// A client connected to `configuration`'s server (its first attempt: no retry if it fails).
    public static func connect(
        configuration: RedisClientConfiguration, eventLoop: any EventLoop,
        logger: Logger = Logger(label: "switchboard.redis")
    ) -> EventLoopFuture<RedisClient> {
        let client = RedisClient(configuration: configuration, eventLoop: eventLoop, logger: logger)
        return client.connect().map { client }
    }

    /// Connects (once; reconnects after that are automatic). Fails if the first attempt fails.
    public func connect() -> EventLoopFuture<Void> {
        onLoop {
            switch self.state {
            case .idle: return self.establish()
            case .closed: return self.eventLoop.makeFailedFuture(RedisClientError.clientClosed)
            case .connecting, .connected, .waitingToReconnect: return self.eventLoop.makeSucceededVoidFuture()
            }
        }
    }

    // MARK: Commands

    /// Sends one command; the future has its reply, or fails with `.server` for an error reply.
    public func send(_ command: RESPCommand) -> EventLoopFuture<RESPValue> {
        send(batch: [command])[0]
    }

    /// Sends one command given as strings (`["SET", "k", "v"]`).
    public func send(_ arguments: [String]) -> EventLoopFuture<RESPValue> {
        send(RESPCommand(arguments))
    }

    /// Sends one command given as bytes.
    public func send(_ arguments: [ByteBuffer]) -> EventLoopFuture<RESPValue> {
        send(RESPCommand(arguments))
    }

    /// Sends many commands in one write and one flush; the futures are in the commands' order.
    public func send(batch commands: [RESPCommand]) -> [EventLoopFuture<RESPValue>] {
        let promises = commands.map { _ in eventLoop.makePromise(of: RESPValue.self) }
        onLoop {
            switch self.state {
            case .connected(_, let handler):
                handler.write(commands, pending: promises.map { .reply($0) })
            case .closed:
                for promise in promises { promise.fail(RedisClientError.clientClosed) }
            case .idle, .connecting, .waitingToReconnect:
                for promise in promises { promise.fail(RedisClientError.notConnected) }
            }
        }
        return promises.map(\.futureResult)
    }

    // MARK: Pub/sub

    /// Subscribes to channels, patterns or shard channels; `handler` receives their messages (on
    /// `eventLoop`) until `unsubscribe`, across reconnects. Succeeds when Redis confirmed every name.
    public func subscribe(
        to names: [String], kind: RedisSubscriptionKind = .channel, handler: @escaping RedisMessageHandler
    ) -> EventLoopFuture<Void> {
        onLoop {
            guard case .connected(_, let connection) = self.state else {
                return self.eventLoop.makeFailedFuture(self.unavailableError)
            }
            for name in names { self.subscriptions[kind, default: [:]][name] = handler }
            return self.subscriptionCommand(kind.subscribeCommand, names, on: connection).flatMapErrorThrowing {
                for name in names { self.subscriptions[kind]?[name] = nil }
                throw $0
            }
        }
    }

    /// Unsubscribes; messages for these names stop at once, and Redis's confirmation completes the future.
    public func unsubscribe(from names: [String], kind: RedisSubscriptionKind = .channel) -> EventLoopFuture<Void> {
        onLoop {
            for name in names { self.subscriptions[kind]?[name] = nil }
            guard case .connected(_, let connection) = self.state else {
                // Nothing to undo on the server: a reconnect subscribes only to what is left.
                return self.eventLoop.makeSucceededVoidFuture()
            }
            return self.subscriptionCommand(kind.unsubscribeCommand, names, on: connection)
        }
    }

    private func subscriptionCommand(
        _ command: String, _ names: [String], on connection: RedisConnectionHandler
    ) -> EventLoopFuture<Void> {
        guard !names.isEmpty else { return eventLoop.makeSucceededVoidFuture() }
        let promise = eventLoop.makePromise(of: Void.self)
        connection.write(
            [RESPCommand([command] + names)],
            pending: [.confirmations(confirmation: command.lowercased(), remaining: names.count, promise)])
        return promise.futureResult
    }

    private func deliver(_ message: RedisPubSubMessage) {
        subscriptions[message.kind]?[message.subscriptionName]?(message)
    }

    /// The server ended a shard subscription (its slot moved): forgotten here, and the observers told
    /// (`RedisClusterClient` places it on the slot's new primary).
    private func shardUnsubscribed(_ channel: String) {
        guard subscriptions[.shardChannel]?.removeValue(forKey: channel) != nil else { return }
        for observer in shardUnsubscribeObservers { observer(channel) }
    }

    /// Calls `observer` on `eventLoop` when the server ends a shard subscription by itself.
    public func observeShardUnsubscribe(_ observer: @escaping @Sendable (String) -> Void) {
        onLoop { self.shardUnsubscribeObservers.append(observer) }
    }

    // MARK: Lifecycle

    /// Closes the connection and stops reconnecting; commands in flight fail with `.connectionClosed`.
    public func close() -> EventLoopFuture<Void> {
        onLoop {
            let previous = self.state
            self.state = .closed
            if let watcher = self.sentinelWatcher {
                self.sentinelWatcher = nil
                watcher.close().whenComplete { _ in }
            }
            switch previous {
            case .connected(let channel, _):
                return channel.close().recover { _ in }
            case .waitingToReconnect(let scheduled):
                scheduled.cancel()
                return self.eventLoop.makeSucceededVoidFuture()
            case .idle, .connecting, .closed:
                return self.eventLoop.makeSucceededVoidFuture()
            }
        }
    }

    /// The server the connection is to, or was to last (on `eventLoop`): the address dialled, or the master
    /// a sentinel gave. Nil before the first connection.
    public var connectedAddress: RedisAddress? { master }

    /// Whether the connection is ready and takes commands (on `eventLoop`).
    public var isConnected: Bool {
        if case .connected = state { return true }
        return false
    }

    private var unavailableError: RedisClientError {
        if case .closed = state { return .clientClosed }
        return .notConnected
    }

    /// One connection attempt: (through Sentinel, asking for the master's address,) TCP (and TLS), HELLO
    /// (or AUTH on RESP2), SELECT, (through Sentinel, checking `ROLE`,) resubscribing.
    private func establish() -> EventLoopFuture<Void> {
        eventLoop.assertInEventLoop()
        state = .connecting
        guard configuration.sentinel != nil else {
            var addresses = addressesToDial?() ?? []
            if addresses.isEmpty { addresses = configuration.addresses }
            // After a drop, the address just lost is the likeliest to be down: tried last.
            if addresses.count > 1, let lost = master, let index = addresses.firstIndex(of: lost) {
                addresses.append(addresses.remove(at: index))
            }
            return establish(trying: addresses, index: 0)
        }
        return askSentinels().flatMap { address in
            guard case .connecting = self.state else {
                return self.eventLoop.makeFailedFuture(RedisClientError.clientClosed)
            }
            return self.establish(to: address)
        }.flatMapErrorThrowing { error in
            if case .connecting = self.state { self.state = .idle }
            throw error
        }
    }

    /// Dials `addresses[index...]` in turn until one connects; fails with the last one's error.
    private func establish(trying addresses: [RedisAddress], index: Int) -> EventLoopFuture<Void> {
        establish(to: addresses[index]).flatMapError { error in
            guard index + 1 < addresses.count, case .idle = self.state else {
                return self.eventLoop.makeFailedFuture(error)
            }
            self.logger.info(
                "Redis: cannot connect; trying the next address",
                metadata: ["server": "\(addresses[index])", "error": "\(error)"])
            self.state = .connecting
            return self.establish(trying: addresses, index: index + 1)
        }
    }

    private func establish(to address: RedisAddress) -> EventLoopFuture<Void> {
        let configuration = self.configuration
        let logger = self.logger
        let tlsContext: NIOSSLContext?
        do {
            tlsContext = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        } catch {
            state = .idle
            return eventLoop.makeFailedFuture(error)
        }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        // SNI and certificate names are host names; an address literal sends neither.
                        let isAddress = address.host.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" }
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tlsContext, serverHostname: isAddress ? nil : address.host))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(RESPMessageDecoder(decoder: RESPDecoder(limits: configuration.limits))))
                    try channel.pipeline.syncOperations.addHandler(
                        RedisConnectionHandler(
                            logger: logger, shardUnsubscribed: { [weak self] in self?.shardUnsubscribed($0) }
                        ) { [weak self] message in self?.deliver(message) })
                }
            }
        return bootstrap.connect(host: address.host, port: address.port).flatMap { channel in
            let handler: RedisConnectionHandler
            do {
                handler = try channel.pipeline.syncOperations.handler(type: RedisConnectionHandler.self)
            } catch {
                return channel.close().flatMapThrowing { throw error }
            }
            return self.handshake(handler).flatMap {
                self.checkIsMaster(handler, address)
            }.flatMap {
                self.ready(channel, handler, address)
            }.flatMapError { error in
                channel.close(promise: nil)
                return self.eventLoop.makeFailedFuture(error)
            }
        }.flatMapErrorThrowing { error in
            if case .connecting = self.state { self.state = .idle }
            throw error
        }
    }

    /// HELLO 3 (with AUTH), or AUTH on a server too old for HELLO; then SELECT.
    private func handshake(_ handler: RedisConnectionHandler) -> EventLoopFuture<Void> {
        var hello = ["HELLO", "3"]
        if let password = configuration.password { hello += ["AUTH", configuration.user ?? "default", password] }
        return command(hello, on: handler).map { _ in }.flatMapError { error in
            // Redis before 6 does not know HELLO; then RESP2 and a separate AUTH.
            guard case .server(let message) = error as? RedisClientError,
                message.hasPrefix("ERR unknown command") || message.hasPrefix("NOPROTO")
            else { return self.eventLoop.makeFailedFuture(error) }
            handler.usesRESP2 = true
            guard let password = self.configuration.password else { return self.eventLoop.makeSucceededVoidFuture() }
            let auth = self.configuration.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            return self.command(auth, on: handler).map { _ in }
        }.flatMap {
            guard self.configuration.database != 0 else { return self.eventLoop.makeSucceededVoidFuture() }
            return self.command(["SELECT", String(self.configuration.database)], on: handler).map { _ in }
        }
    }

    /// The connection is ready: subscribe again, then take commands and watch for the drop.
    private func ready(
        _ channel: any Channel, _ handler: RedisConnectionHandler, _ address: RedisAddress
    ) -> EventLoopFuture<Void> {
        var resubscribed: [EventLoopFuture<Void>] = []
        for (kind, names) in subscriptions where !names.isEmpty {
            // Shard channels one by one: in a cluster, one SSUBSCRIBE may name only one slot's channels.
            let groups = kind == .shardChannel ? names.keys.map { [$0] } : [Array(names.keys)]
            for group in groups { resubscribed.append(subscriptionCommand(kind.subscribeCommand, group, on: handler)) }
        }
        return EventLoopFuture.andAllSucceed(resubscribed, on: eventLoop).flatMapThrowing {
            guard case .connecting = self.state else {
                // close() came first.
                channel.close(promise: nil)
                throw RedisClientError.clientClosed
            }
            self.state = .connected(channel, handler)
            self.master = address
            self.backoff.reset()
            if self.configuration.sentinel != nil { self.watchSentinel() }
            channel.closeFuture.whenComplete { _ in self.connectionClosed(channel) }
            for observer in self.connectionObservers { observer(true) }
        }
    }

    func command(_ arguments: [String], on handler: RedisConnectionHandler) -> EventLoopFuture<RESPValue> {
        let promise = eventLoop.makePromise(of: RESPValue.self)
        handler.write([RESPCommand(arguments)], pending: [.reply(promise)])
        return promise.futureResult
    }

    private func connectionClosed(_ channel: any Channel) {
        guard case .connected(let current, _) = state, current === channel else { return }
        logger.warning(
            "Redis connection lost; reconnecting", metadata: ["server": "\(master.map(\.description) ?? "?")"])
        scheduleReconnect()
        for observer in connectionObservers { observer(false) }
    }

    private func scheduleReconnect() {
        let delay = backoff.nextDelay()
        let scheduled = eventLoop.scheduleTask(in: delay) {
            guard case .waitingToReconnect = self.state else { return }
            self.establish().whenFailure { error in
                guard case .idle = self.state else { return }
                self.logger.info(
                    "Redis reconnect failed",
                    metadata: ["error": "\(error)", "server": "\(self.configuration.endpointDescription)"])
                self.scheduleReconnect()
            }
        }
        state = .waitingToReconnect(scheduled)
    }

    /// Ends the current connection (it then reconnects as after any drop): through Sentinel, when the
    /// master moved.
    func dropConnection() {
        guard case .connected(let channel, _) = state else { return }
        channel.close(promise: nil)
    }

    /// Runs `body` on the loop, now if already there.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.inEventLoop ? body() : eventLoop.flatSubmit(body)
    }

    func onLoop(_ body: @escaping @Sendable () -> Void) {
        if eventLoop.inEventLoop { body() } else { eventLoop.execute(body) }
    }
}
