public import Logging
public import NIOCore
public import RedisWire

/// A Redis Cluster client (docs/redis.md, "Redis Cluster"): one pipelined `RedisClient` per primary, each
/// with the seed's user, password, TLS and limits; commands go to the primary serving their key's hash slot
/// (`RedisKeySlot`), shard channels likewise.
///
/// Following the Redis Cluster specification (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/):
/// - the slot map comes from `CLUSTER SLOTS` at connect, every `topologyRefreshInterval`, and at once after
///   a `MOVED` or a primary's connection drops;
/// - `MOVED <slot> <host:port>`: the slot is assigned to that node in the map and the command is sent there
///   ("MOVED Redirection");
/// - `ASK <slot> <host:port>`: the command is sent there once, after `ASKING`, without changing the map
///   ("ASK redirection", a slot being migrated);
/// - `TRYAGAIN` (a multi-key command whose keys are split by a migration) and `CLUSTERDOWN` are retried
///   after `retryDelay`; at most `maxRedirects` redirects or retries per command;
/// - a command that was not sent (`.notConnected`) is retried after a refresh; one in flight when its
///   connection dropped (`.connectionClosed`) is not, since Redis may have run it.
///
/// Shard subscriptions are kept here with their handlers and placed on their slot's primary; each refresh
/// moves those whose slot moved (subscribed on the new primary before unsubscribed from the old, so a
/// message may come twice but is not missed there) and places again those whose primary was down.
///
/// Confined to `eventLoop`, like `RedisClient` (every node client runs on it too).
public final class RedisClusterClient: @unchecked Sendable {
    /// One shard subscription: who receives it, and the primary it is placed on (nil: not placed).
    private struct ShardSubscription {
        var handler: RedisMessageHandler
        var node: RedisAddress?
        /// Whether it was placed before (a later placement is a move: `observeShardMoved`).
        var placed = false
    }

    public let eventLoop: any EventLoop
    /// The seed nodes (`addresses`), and the user, password, TLS, timeouts and limits every node connection
    /// uses.
    public let configuration: RedisClientConfiguration
    /// How often the slot map is asked for again. Default 1 s: a reshard is followed within a second even
    /// when no command of ours met a `MOVED`.
    public var topologyRefreshInterval: TimeAmount = .seconds(1)
    /// The most redirects and retries one command follows. Default 5.
    public var maxRedirects = 5
    /// The wait before retrying `TRYAGAIN`, `CLUSTERDOWN` or a command with no connection. Default 100 ms.
    public var retryDelay: TimeAmount = .milliseconds(100)
    let logger: Logger

    public private(set) var topology = RedisClusterTopology()
    private var nodes: [RedisAddress: RedisClient] = [:]
    private var shardSubscriptions: [String: ShardSubscription] = [:]
    private var refreshTask: RepeatedTask?
    private var refreshing: EventLoopFuture<Void>?
    private var closed = false
    private var nodeObservers: [@Sendable (RedisAddress) -> Void] = []
    private var movedObservers: [@Sendable (String) -> Void] = []

    /// Calls `observer` (on `eventLoop`) when a shard subscription was placed again on another primary
    /// (its slot moved, or its primary was down): what was published meanwhile did not reach it.
    public func observeShardMoved(_ observer: @escaping @Sendable (String) -> Void) {
        onLoop { self.movedObservers.append(observer) }
    }

    public init(configuration: RedisClientConfiguration, eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Calls `observer` (on `eventLoop`) each time a primary's connection becomes ready: a new primary, or
    /// one back after a drop (what a node must hold, such as a function library, is loaded there again).
    public func observeNodeReady(_ observer: @escaping @Sendable (RedisAddress) -> Void) {
        onLoop { self.nodeObservers.append(observer) }
    }

    /// Reads the slot map from the first seed that answers (`configuration.addresses`) and connects to
    /// every primary; fails if no seed can be asked or a slot has no primary. Refreshes every
    /// `topologyRefreshInterval` after.
    public func connect() -> EventLoopFuture<Void> {
        onLoop {
            self.askFirst(self.configuration.addresses, index: 0).flatMap { topology in
                guard topology.coveredSlots == RedisKeySlot.count else {
                    return self.eventLoop.makeFailedFuture(
                        RedisClientError.server(
                            "CLUSTERDOWN: only \(topology.coveredSlots) of \(RedisKeySlot.count) slots are served"))
                }
                // Connected before the map is taken, so this waits for each primary's first connection.
                let connections = topology.primaries.map { self.node($0).connect() }
                self.apply(topology)
                return EventLoopFuture.andAllSucceed(connections, on: self.eventLoop)
            }.map {
                self.refreshTask = self.eventLoop.scheduleRepeatedTask(
                    initialDelay: self.topologyRefreshInterval, delay: self.topologyRefreshInterval
                ) { _ in self.refresh() }
            }
        }
    }

    /// Closes every node connection and stops refreshing.
    public func close() -> EventLoopFuture<Void> {
        onLoop {
            self.closed = true
            self.refreshTask?.cancel()
            let closing = self.nodes.values.map { $0.close() }
            self.nodes = [:]
            return EventLoopFuture.andAllComplete(closing, on: self.eventLoop)
        }
    }

    // MARK: Commands

    /// Sends `command` to the primary serving `key`'s slot, following redirects.
    public func send(_ command: RESPCommand, key: String) -> EventLoopFuture<RESPValue> {
        onLoop { self.send(command, slot: RedisKeySlot.slot(of: key), asking: nil, attempt: 0) }
    }

    /// Sends many commands, each to its key's primary: the commands for one primary go in one write, in
    /// their order here (so the commands of one slot keep their order). The futures are in the input's order.
    public func send(batch commands: [(command: RESPCommand, key: String)]) -> [EventLoopFuture<RESPValue>] {
        let promises = commands.map { _ in eventLoop.makePromise(of: RESPValue.self) }
        onLoop {
            var byNode: [RedisAddress: [Int]] = [:]
            var order: [RedisAddress] = []
            for (index, item) in commands.enumerated() {
                let slot = RedisKeySlot.slot(of: item.key)
                guard let address = self.topology.primary(of: slot) else {
                    self.send(item.command, slot: slot, asking: nil, attempt: 0).cascade(to: promises[index])
                    continue
                }
                if byNode[address] == nil { order.append(address) }
                byNode[address, default: []].append(index)
            }
            for address in order {
                let indices = byNode[address] ?? []
                let replies = self.node(address).send(batch: indices.map { commands[$0].command })
                for (reply, index) in zip(replies, indices) {
                    let slot = RedisKeySlot.slot(of: commands[index].key)
                    self.followRedirects(
                        reply, command: commands[index].command, slot: slot, from: address, attempt: 0
                    ).cascade(to: promises[index])
                }
            }
        }
        return promises.map(\.futureResult)
    }

    /// Sends `command` to every primary (loading a function library, say); succeeds when all succeeded.
    public func sendToEveryPrimary(_ command: RESPCommand) -> EventLoopFuture<Void> {
        onLoop {
            let replies = self.topology.primaries.map { self.node($0).send(command).map { _ in } }
            return EventLoopFuture.andAllSucceed(replies, on: self.eventLoop)
        }
    }

    /// Sends `command` to the primary at `address` (a node-ready observer's).
    public func send(_ command: RESPCommand, toNode address: RedisAddress) -> EventLoopFuture<RESPValue> {
        onLoop { self.node(address).send(command) }
    }

    private func send(
        _ command: RESPCommand, slot: Int, asking: RedisAddress?, attempt: Int
    ) -> EventLoopFuture<RESPValue> {
        eventLoop.assertInEventLoop()
        if closed { return eventLoop.makeFailedFuture(RedisClientError.clientClosed) }
        guard let address = asking ?? topology.primary(of: slot) else {
            return retryLater(command, slot: slot, attempt: attempt, error: .notConnected)
        }
        let client = node(address)
        let reply =
            asking == nil
            ? client.send(command)
            // "ASK redirection": ASKING then the command, on one connection, in one write.
            : client.send(batch: [RESPCommand(["ASKING"]), command])[1]
        return followRedirects(reply, command: command, slot: slot, from: address, attempt: attempt)
    }

    private func followRedirects(
        _ reply: EventLoopFuture<RESPValue>, command: RESPCommand, slot: Int, from address: RedisAddress,
        attempt: Int
    ) -> EventLoopFuture<RESPValue> {
        reply.flatMapError { error in
            guard attempt < self.maxRedirects, let error = error as? RedisClientError else {
                return self.eventLoop.makeFailedFuture(error)
            }
            switch error {
            case .server(let message):
                if let redirect = RedisClusterTopology.redirect(in: message, answeredBy: address) {
                    if redirect.kind == "MOVED" {
                        self.topology.assign(redirect.slot, to: redirect.address)
                        self.refresh()
                        return self.send(command, slot: slot, asking: nil, attempt: attempt + 1)
                    }
                    return self.send(command, slot: slot, asking: redirect.address, attempt: attempt + 1)
                }
                if message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN") {
                    return self.retryLater(command, slot: slot, attempt: attempt, error: error)
                }
                return self.eventLoop.makeFailedFuture(error)
            case .notConnected:
                // Not sent: safe to send again once the map is fresh.
                self.refresh()
                return self.retryLater(command, slot: slot, attempt: attempt, error: error)
            case .connectionClosed:
                // Maybe run: not sent again (at most once), but the map may have changed.
                self.refresh()
                return self.eventLoop.makeFailedFuture(error)
            default:
                return self.eventLoop.makeFailedFuture(error)
            }
        }
    }

    private func retryLater(
        _ command: RESPCommand, slot: Int, attempt: Int, error: RedisClientError
    ) -> EventLoopFuture<RESPValue> {
        guard attempt < maxRedirects, !closed else { return eventLoop.makeFailedFuture(error) }
        return eventLoop.scheduleTask(in: retryDelay) {}.futureResult.flatMap {
            self.send(command, slot: slot, asking: nil, attempt: attempt + 1)
        }
    }

    // MARK: Shard pub/sub

    /// Subscribes to a shard channel on its slot's primary; `handler` receives its messages (on
    /// `eventLoop`) until `unsubscribe(shardChannel:)`, across reconnects and reshards. Succeeds when the
    /// primary confirmed; if it could not be placed now it is placed again at the next refresh.
    public func subscribe(shardChannel channel: String, handler: @escaping RedisMessageHandler) -> EventLoopFuture<Void>
    {
        onLoop {
            self.shardSubscriptions[channel] = ShardSubscription(handler: handler, node: nil)
            return self.place(channel)
        }
    }

    /// Unsubscribes from a shard channel.
    public func unsubscribe(shardChannel channel: String) -> EventLoopFuture<Void> {
        onLoop {
            guard let subscription = self.shardSubscriptions.removeValue(forKey: channel),
                let node = subscription.node, let client = self.nodes[node]
            else { return self.eventLoop.makeSucceededVoidFuture() }
            return client.unsubscribe(from: [channel], kind: .shardChannel)
        }
    }

    /// Subscribes `channel` on its slot's primary, then unsubscribes it from the one it was on, if another.
    private func place(_ channel: String, attempt: Int = 0) -> EventLoopFuture<Void> {
        guard let subscription = shardSubscriptions[channel] else { return eventLoop.makeSucceededVoidFuture() }
        guard let owner = topology.primary(of: RedisKeySlot.slot(of: channel)) else {
            return eventLoop.makeFailedFuture(RedisClientError.notConnected)
        }
        let previous = subscription.node
        return node(owner).subscribe(to: [channel], kind: .shardChannel, handler: subscription.handler).map {
            guard self.shardSubscriptions[channel] != nil else {
                // Unsubscribed meanwhile.
                _ = self.nodes[owner]?.unsubscribe(from: [channel], kind: .shardChannel)
                return
            }
            let moved = self.shardSubscriptions[channel]?.placed == true && previous != owner
            self.shardSubscriptions[channel]?.node = owner
            self.shardSubscriptions[channel]?.placed = true
            if let previous, previous != owner, let old = self.nodes[previous] {
                _ = old.unsubscribe(from: [channel], kind: .shardChannel)
            }
            if moved { for observer in self.movedObservers { observer(channel) } }
        }.flatMapError { error in
            // Our map is behind (a node that had not heard of the reshard answered it): MOVED names the
            // slot's primary; placed there at once.
            guard case .server(let message) = error as? RedisClientError, attempt < self.maxRedirects,
                let redirect = RedisClusterTopology.redirect(in: message, answeredBy: owner), redirect.kind == "MOVED"
            else { return self.eventLoop.makeFailedFuture(error) }
            self.topology.assign(redirect.slot, to: redirect.address)
            self.refresh()
            return self.place(channel, attempt: attempt + 1)
        }
    }

    // MARK: Topology

    private func askTopology(from address: RedisAddress) -> EventLoopFuture<RedisClusterTopology> {
        let reply: EventLoopFuture<RESPValue>
        if let client = nodes[address] {
            reply = client.send(["CLUSTER", "SLOTS"])
        } else {
            let client = RedisClient(configuration: nodeConfiguration(address), eventLoop: eventLoop, logger: logger)
            reply = client.connect().flatMap { client.send(["CLUSTER", "SLOTS"]) }.always { _ in
                client.close().whenComplete { _ in }
            }
        }
        return reply.flatMapThrowing { try RedisClusterTopology.parse(slotsReply: $0, askedHost: address.host) }
    }

    /// Asks the map again (once at a time) from every node known in turn (`knownNodes`).
    public func refresh() {
        onLoop {
            guard self.refreshing == nil, !self.closed else { return }
            let done = self.askFirst(self.knownNodes, index: 0).map { topology in
                if topology.coveredSlots > 0 { self.apply(topology) }
            }.recover { error in
                self.logger.info("Redis Cluster: refreshing the slot map failed", metadata: ["error": "\(error)"])
            }
            self.refreshing = done
            done.whenComplete { _ in self.refreshing = nil }
        }
    }

    /// The map from the first of `candidates` that gives one; failing, the last one's error.
    private func askFirst(_ candidates: [RedisAddress], index: Int) -> EventLoopFuture<RedisClusterTopology> {
        askTopology(from: candidates[index]).flatMapError { error in
            guard index + 1 < candidates.count else { return self.eventLoop.makeFailedFuture(error) }
            return self.askFirst(candidates, index: index + 1)
        }
    }

    /// Every node this client knows of, each once: the primaries with a ready connection first, then the
    /// other primaries, the replicas and the seeds (on `eventLoop`). Asked for the slot map, and dialled
    /// in turn by a connection that must reach some node of the cluster (the engine's control channel).
    public var knownNodes: [RedisAddress] {
        var ordered = topology.primaries.filter { nodes[$0]?.isConnected == true }
        for address in topology.primaries + topology.replicas + configuration.addresses
        where !ordered.contains(address) {
            ordered.append(address)
        }
        return ordered
    }

    /// Takes a new map: connects to new primaries, lets go of nodes that serve nothing now, and places the
    /// shard subscriptions whose slot moved or that are not placed.
    private func apply(_ new: RedisClusterTopology) {
        let changed = new != topology
        topology = new
        if changed {
            logger.info(
                "Redis Cluster: slot map", metadata: ["primaries": "\(new.primaries.map(\.description))"])
        }
        for address in new.primaries where nodes[address] == nil {
            let client = node(address)
            client.connect().whenFailure { [logger] error in
                logger.info(
                    "Redis Cluster: cannot reach a primary yet", metadata: ["node": "\(address)", "error": "\(error)"])
                // A first connect that fails does not retry by itself: forget the client, the next refresh
                // makes another.
                if self.nodes[address] === client {
                    self.nodes[address] = nil
                    _ = client.close()
                }
            }
        }
        let serving = Set(new.primaries)
        for (address, client) in nodes where !serving.contains(address) {
            let keeps = shardSubscriptions.values.contains { $0.node == address }
            if !keeps {
                nodes[address] = nil
                _ = client.close()
            }
        }
        for (channel, subscription) in shardSubscriptions {
            let owner = new.primary(of: RedisKeySlot.slot(of: channel))
            if subscription.node != owner || subscription.node.flatMap({ nodes[$0] }) == nil {
                place(channel).whenFailure { [logger] error in
                    logger.debug(
                        "Redis Cluster: placing a shard subscription failed; again at the next refresh",
                        metadata: ["channel": "\(channel)", "error": "\(error)"])
                }
            }
        }
    }

    /// The client of the primary at `address`, made (not yet connected) if there is none.
    private func node(_ address: RedisAddress) -> RedisClient {
        if let client = nodes[address] { return client }
        let client = RedisClient(configuration: nodeConfiguration(address), eventLoop: eventLoop, logger: logger)
        nodes[address] = client
        client.observeConnection { [weak self] up in
            guard let self else { return }
            if up {
                for observer in self.nodeObservers { observer(address) }
            } else {
                self.refresh()
            }
        }
        client.observeShardUnsubscribe { [weak self] channel in
            // A reshard handed the slot over: placed again on the new primary as soon as the map says where.
            guard let self, self.shardSubscriptions[channel]?.node == address else { return }
            self.shardSubscriptions[channel]?.node = nil
            self.refresh()
        }
        return client
    }

    /// The configuration, for the node at `address` alone.
    private func nodeConfiguration(_ address: RedisAddress) -> RedisClientConfiguration {
        var settings = configuration
        settings.host = address.host
        settings.port = address.port
        settings.seeds = []
        return settings
    }

    /// The primaries of the map without a ready connection (for health reports; on `eventLoop`).
    public var unreachablePrimaries: [RedisAddress] {
        topology.primaries.filter { nodes[$0]?.isConnected != true }
    }

    private func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.inEventLoop ? body() : eventLoop.flatSubmit(body)
    }

    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if eventLoop.inEventLoop { body() } else { eventLoop.execute(body) }
    }
}
