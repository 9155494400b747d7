package import BusCore
package import BusRuntime
package import Logging
import NIOConcurrencyHelpers
package import NIOCore
package import RedisEngine
import RedisWire
import Storage

/// Joins this instance's bus to other instances through Redis pub/sub (issue 23, docs/redis.md,
/// "Routing between instances").
///
/// Each publication made here is published to the Redis channel `<prefix><topic>`, from one connection
/// and in publish order per event loop (pipelined: the messages of one loop turn go out in one write).
/// Each filter local subscribers hold becomes a Redis subscription — the topic's channel, or a glob
/// pattern for a filter with wildcards (`a/+/c` → `<prefix>a/*/c`, `a/#` → `<prefix>a/*` and the channel
/// `<prefix>a`) — so this instance receives only what its subscribers may want; a glob can match more
/// than the filter does, and the bus matches each message again before delivering it. A message comes
/// back to its own instance when it has subscribers here too: it carries its instance's id and is
/// dropped on return.
///
/// Confined to `eventLoop` (a bus loop: what arrives is published from it) except `forward` and
/// `interestChanged`, which hand over under `lock`; hence `@unchecked Sendable`.
package final class RedisBusEngine: BusEngine, @unchecked Sendable {
    /// One Redis subscription: a channel or a pattern.
    struct Name: Hashable {
        var kind: RedisSubscriptionKind
        var text: String
    }

    /// A frame on its way out; a publication to a topic keeping history carries what its append needs.
    struct Outgoing {
        var frame: ByteBuffer
        var append: SharedAppend?
        /// A durable log's position, given by the store (`forwardStored`): published in front of the frame
        /// as `switchboard_append` publishes a shared log's.
        var position: LogPosition? = nil

        /// What is published: the frame, behind its position when it has one (`RedisBusFrame.decodePositioned`).
        var payload: ByteBuffer {
            guard let position else { return frame }
            var payload = ByteBuffer(string: "P\(position.offset) \(position.epoch)\n")
            payload.writeImmutableBuffer(frame)
            return payload
        }
    }

    struct Pending {
        /// Why the instance is cut off from the others (Redis unreachable), for `/readyz`; nil when joined.
        var down: String?
        /// On Redis Cluster: which primaries have no connection (checked each heartbeat); nil when all do.
        var primariesDown: String?
        var frames: [Outgoing] = []
        /// The last frame's sequence number.
        var sequence: UInt64 = 0
        var flushScheduled = false
        /// Filter pattern → (filter, local subscriptions); changed by `interestChanged`.
        var interest: [String: (filter: TopicFilter, count: Int)] = [:]
        var interestChanged = false
        /// Shared groups: local members by group key, and the other instances with members.
        var localGroups: [String: Int] = [:]
        var remoteGroups: [String: Set<String>] = [:]
        /// The other instances heard from (a heartbeat, hello or connection count since they were last
        /// forgotten), with the connection count each last announced (nil: none yet).
        var peers: [String: Int?] = [:]
        /// The frames kept while Redis is unreachable and their bytes (mirrors of the loop's `backlog`, for
        /// `statistics`), and the frames dropped from it since the start.
        var backlogFrames = 0
        var backlogBytes = 0
        var framesLost = 0
    }

    let bus: Bus
    /// Retained messages: every instance keeps all of them, and Redis keeps them for instances that start.
    let retained: RetainedMessageStore
    let client: RedisClient
    let eventLoop: any EventLoop
    /// Told when another instance's connection took a client identifier (MQTT session takeover): the
    /// connection here that has it ends.
    let remoteClaim: @Sendable (String) -> Void
    /// This process's id in every frame it sends (a message coming back is dropped).
    package let instanceID: String
    /// Prefix of every channel (`switchboard:`; several deployments may share one Redis).
    let prefix: String
    let logger: Logger
    let lock = NIOLockedValueBox(Pending())
    /// Loop-confined: what Redis was asked to deliver.
    private var subscribed: Set<Name> = []
    /// Loop-confined: whether the connection takes commands, and the frames kept while it did not (sent
    /// first when it does again), with their bytes.
    private var connected = false
    private(set) var backlog: [Outgoing] = []
    private var backlogBytes = 0
    /// Most bytes kept while Redis is unreachable; beyond it the oldest frames go (counted in
    /// `statistics.framesLost`).
    let maxBacklogBytes: Int
    /// How many connections this instance holds, announced to the others with each heartbeat.
    let connectionCount: @Sendable () -> Int
    /// Loop-confined: the newest sequence number received from each instance, and when it was heard.
    private var lastSequence: [String: UInt64] = [:]
    private var lastHeard: [String: NIODeadline] = [:]
    private var heartbeats: RepeatedTask?
    /// Loop-confined: topics heard from for a history refresh (`refreshHistory`), with how many refreshes
    /// hold each.
    var historyHolds: [Topic: Int] = [:]
    /// Loop-confined: the newest position of each shared log this instance was told of (its own appends'
    /// answers, the positioned messages it heard), checked against Redis after each reconnect
    /// (`RedisBusEngine+Continuity.swift`).
    var seenLogPositions: [String: SeenLogPosition] = [:]
    /// On Redis Cluster (`RedisBusEngine+Cluster.swift`), set by `start()` before anything is sent: the
    /// client of the primaries, which carries every keyed command and the shard channels (the seed's
    /// `client` keeps the control channel). Nil on one Redis.
    var cluster: RedisClusterClient?
    /// Loop-confined, on Redis Cluster: the shard channels subscribed, the wildcard filters announced, the
    /// other instances' wildcard filters (the interest table), and the newest sequence number delivered per
    /// instance and topic (rotated every `topicSequenceGeneration` heartbeats).
    var subscribedShards: Set<String> = []
    var localWildcards: Set<String> = []
    var remoteWildcards: [String: [TopicFilter]] = [:]
    var topicSequences = RedisTopicSequences()
    var beatsSinceRotation = 0
    /// Loop-confined, on Redis Cluster: topics whose shard subscription moved and whose shared log is being
    /// read for what the move missed, with the frames that arrived meanwhile (`catchUp`).
    var catchingUp: [String: [RedisPubSubMessage]] = [:]

    package init(
        bus: Bus, retained: RetainedMessageStore, configuration: RedisClientConfiguration,
        prefix: String = "switchboard:", maxBacklogBytes: Int = RedisBusEngine.defaultMaxBacklogBytes,
        logger: Logger, remoteClaim: @escaping @Sendable (String) -> Void = { _ in },
        connectionCount: @escaping @Sendable () -> Int = { 0 }
    ) {
        self.retained = retained
        self.remoteClaim = remoteClaim
        self.maxBacklogBytes = maxBacklogBytes
        self.connectionCount = connectionCount
        self.bus = bus
        self.eventLoop = bus.shards[0].eventLoop
        self.client = RedisClient(configuration: configuration, eventLoop: eventLoop, logger: logger)
        self.instanceID = bus.makeIdentifier() + bus.makeIdentifier()
        self.prefix = prefix
        self.logger = logger
    }

    /// The channel of presence events and the engine's own frames: every instance hears it. Outside the
    /// topics' channels (no pattern of ours matches it).
    var controlChannel: String { String(prefix.dropLast()) + ".control" }
    /// The hash of retained messages (topic → frame), for instances that start later.
    var retainedKey: String { String(prefix.dropLast()) + ".retained" }

    /// How often an instance says it is alive; one silent for three of these has gone (its presence
    /// entries leave).
    let heartbeatInterval: TimeAmount = .seconds(2)

    /// Connects (the server does not start without its engine), hears the control channel, attaches to the
    /// bus and says hello (the others answer with their presence).
    package func start() -> EventLoopFuture<Void> {
        client.observeConnection { [weak self] up in self?.connectionChanged(up) }
        return client.connect().flatMap {
            self.client.send(["INFO", "cluster"])
        }.flatMap { info in
            // A Redis Cluster node (docs/redis.md, "Redis Cluster"): the primaries carry the keys and shard
            // channels, the node given keeps the control channel.
            guard info.string?.contains("cluster_enabled:1") == true else {
                guard self.client.configuration.seeds.isEmpty else {
                    return self.eventLoop.makeFailedFuture(
                        RedisClientError.invalidURL(
                            "several hosts are the seed nodes of a Redis Cluster, and "
                                + "\(self.client.connectedAddress.map(\.description) ?? "?") is not in cluster mode"))
                }
                return self.client.send(self.loadFunctionsCommand).map { _ in }
            }
            return self.startCluster()
        }.flatMap {
            self.client.subscribe(to: [self.controlChannel]) { [weak self] message in self?.receive(message) }
        }.flatMap {
            self.keyed(RESPCommand(["HGETALL", self.retainedKey]), key: self.retainedKey)
        }.map { stored in
            self.restoreRetained(stored)
            self.retained.observeLocalChanges { [weak self] message in
                guard let self else { return }
                self.send(RedisBusFrame.retained(message, instance: self.instanceID))
            }
            self.bus.attach(self)
            self.send(RedisBusFrame.control(.hello, instance: self.instanceID))
            self.heartbeats = self.eventLoop.scheduleRepeatedTask(
                initialDelay: self.heartbeatInterval, delay: self.heartbeatInterval
            ) { _ in self.beat() }
        }
    }

    /// Says goodbye (the others drop this instance's presence at once) and closes.
    package func stop() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            self.heartbeats?.cancel()
            self.send(RedisBusFrame.control(.goodbye, instance: self.instanceID))
            self.flush()
            let cluster = self.cluster?.close() ?? self.eventLoop.makeSucceededVoidFuture()
            return cluster.and(self.client.close()).map { _ in }
        }
    }

    // MARK: - Out

    /// A connection here took `publisherID` (an MQTT client identifier): the others' connection with it
    /// ends (session takeover across instances).
    package func claim(_ publisherID: String) {
        send(RedisBusFrame.claim(publisherID, instance: instanceID))
    }

    package func forward(_ message: BusMessage) {
        if cluster != nil { holdReplyInbox(of: message) }
        send(RedisBusFrame.encode(message, instance: instanceID))
    }

    package func forwardStored(_ message: BusMessage) {
        send(RedisBusFrame.encode(message, instance: instanceID), position: message.position)
    }

    /// Numbers `frame` and queues it for the next flush.
    func send(_ frame: ByteBuffer, append: SharedAppend? = nil, position: LogPosition? = nil) {
        var frame = frame
        let schedule = lock.withLockedValue { pending -> Bool in
            pending.sequence += 1
            RedisBusFrame.setSequence(pending.sequence, in: &frame, instance: instanceID)
            pending.frames.append(Outgoing(frame: frame, append: append, position: position))
            if pending.flushScheduled { return false }
            pending.flushScheduled = true
            return true
        }
        if schedule { eventLoop.execute { self.flush() } }
    }

    /// Sends what was forwarded since the last flush, in one write; subscriptions first, so a request
    /// published after its reply inbox was subscribed reaches Redis after that subscription.
    func flush() {
        let (frames, changed) = lock.withLockedValue { pending -> ([Outgoing], Bool) in
            defer {
                pending.frames.removeAll(keepingCapacity: true)
                pending.flushScheduled = false
                pending.interestChanged = false
            }
            return (pending.frames, pending.interestChanged)
        }
        if changed { reconcile() }
        guard !frames.isEmpty else { return }
        guard connected else { return keep(frames) }
        publish(frames)
    }

    private func publish(_ frames: [Outgoing]) {
        if let cluster { return publishClustered(frames, cluster: cluster) }
        var commands: [RESPCommand] = []
        var appends: [(index: Int, append: SharedAppend)] = []
        commands.reserveCapacity(frames.count)
        for item in frames {
            let frame = item.frame
            guard let route = RedisBusFrame.route(of: frame) else { continue }
            if let append = item.append {
                appends.append((commands.count, append))
                commands.append(appendCommand(frame, append))
                continue
            }
            let channel = route.kind == .message ? prefix + route.topic : controlChannel
            commands.append(RESPCommand([ByteBuffer(string: "PUBLISH"), ByteBuffer(string: channel), item.payload]))
            if route.kind == .retained { commands.append(retainedCommand(frame, topic: route.topic)) }
        }
        let replies = client.send(batch: commands)
        for reply in replies {
            reply.whenFailure { [logger] error in
                logger.debug("redis engine: a publish failed", metadata: ["error": "\(error)"])
            }
        }
        for (index, append) in appends { appended(append, reply: replies[index]) }
    }

    /// A retained message is kept in Redis too, for instances that start later; a clear removes it.
    func retainedCommand(_ frame: ByteBuffer, topic: String) -> RESPCommand {
        let cleared =
            RedisBusFrame.decode(frame).map { decoded -> Bool in
                if case .retained(let message) = decoded.event { return message.payload.readableBytes == 0 }
                return false
            } ?? false
        return cleared
            ? RESPCommand(["HDEL", retainedKey, topic])
            : RESPCommand([
                ByteBuffer(string: "HSET"), ByteBuffer(string: retainedKey), ByteBuffer(string: topic), frame,
            ])
    }

    /// Frames forwarded while Redis is unreachable, kept up to `maxBacklogBytes` (the oldest go first). A
    /// publication waiting for its shared position is routed here now, without one (it joins the shared
    /// log, if any, only when Redis is back).
    private func keep(_ frames: [Outgoing]) {
        for var item in frames {
            if let append = item.append, append.routed != nil || append.answered != nil {
                routeUnsequenced(append)
                item.append?.routed = nil
                item.append?.answered = nil
            }
            backlog.append(item)
            backlogBytes += item.frame.readableBytes
        }
        var dropCount = 0
        while backlogBytes > maxBacklogBytes, dropCount < backlog.count {
            backlogBytes -= backlog[dropCount].frame.readableBytes
            dropCount += 1
        }
        if dropCount > 0 { backlog.removeFirst(dropCount) }
        let (frames, bytes) = (backlog.count, backlogBytes)
        lock.withLockedValue { pending in
            pending.backlogFrames = frames
            pending.backlogBytes = bytes
            pending.framesLost += dropCount
        }
    }

    /// Why this instance is cut off from the others, or nil.
    package var degradedReason: String? { lock.withLockedValue { $0.down ?? $0.primariesDown } }

    /// The connection became ready (again) or dropped. Back: the kept frames go first, then hello and this
    /// instance's presence (the others may have let it go), in that order on the one connection.
    private func connectionChanged(_ up: Bool) {
        let wasConnected = connected
        connected = up
        lock.withLockedValue { $0.down = up ? nil : "Redis unreachable at \(client.configuration.endpointDescription)" }
        guard up, !wasConnected else { return }
        // A Redis that restarted has lost the functions: loaded again before anything calls them. (On a
        // cluster each primary's own reconnect loads them there: `startCluster`.)
        if cluster == nil {
            client.send(loadFunctionsCommand).whenFailure { [logger] error in
                logger.warning("redis engine: loading the history functions failed", metadata: ["error": "\(error)"])
            }
        }
        // Before the kept frames append anything: a log that lost what this instance saw gets a new epoch.
        checkSeenLogPositions()
        if !backlog.isEmpty {
            let lost = lock.withLockedValue { pending in
                pending.backlogFrames = 0
                pending.backlogBytes = 0
                return pending.framesLost
            }
            logger.notice(
                "redis engine: back; sending what was kept",
                metadata: ["frames": "\(backlog.count)", "lost": "\(lost)"])
            publish(backlog)
            backlog = []
            backlogBytes = 0
        }
        guard bus.engine != nil else { return }  // the first connection: start() says hello
        if cluster != nil {
            logger.notice(
                "redis engine: the control channel is on a cluster node again",
                metadata: ["node": "\(client.connectedAddress.map(\.description) ?? "?")"])
        }
        send(RedisBusFrame.control(.hello, instance: instanceID))
        announceLocalState()
        // Retained messages set elsewhere while the control channel was down were not heard: read again.
        keyed(RESPCommand(["HGETALL", retainedKey]), key: retainedKey).whenSuccess { [weak self] stored in
            self?.restoreRetained(stored)
        }
    }

    // MARK: - Interest

    package func interestChanged(_ filter: TopicFilter, delta: Int) {
        var groupChange: (key: String, members: Bool)?
        let schedule = lock.withLockedValue { pending -> Bool in
            let key = filter.pattern
            let count = max(0, (pending.interest[key]?.count ?? 0) + delta)
            pending.interest[key] = count == 0 ? nil : (filter, count)
            pending.interestChanged = true
            if let group = filter.shareGroup {
                let groupKey = group + "\u{1F}" + filter.pattern
                let before = pending.localGroups[groupKey] ?? 0
                let after = max(0, before + delta)
                pending.localGroups[groupKey] = after == 0 ? nil : after
                if (before == 0) != (after == 0) { groupChange = (groupKey, after > 0) }
            }
            if pending.flushScheduled { return false }
            pending.flushScheduled = true
            return true
        }
        if schedule { eventLoop.execute { self.flush() } }
        if let groupChange {
            send(RedisBusFrame.group(groupChange.key, members: groupChange.members, instance: instanceID))
        }
    }

    package func deliversToGroup(_ key: String, _ message: BusMessage) -> Bool {
        let others = lock.withLockedValue { $0.remoteGroups[key] }
        guard let others, !others.isEmpty else { return true }
        let instances = (others.union([instanceID])).sorted()
        return instances[Int(Self.stableHash(message) % UInt64(instances.count))] == instanceID
    }

    /// The same number on every instance for the same message (FNV-1a over its topic, publisher and
    /// timestamp, which travel with it): which instance's group takes it.
    static func stableHash(_ message: BusMessage) -> UInt64 {
        var hash: UInt64 = 1_469_598_103_934_665_603
        func mix(_ byte: UInt8) { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
        for byte in message.topic.name.utf8 { mix(byte) }
        for byte in (message.publisherID ?? "").utf8 { mix(byte) }
        var timestamp = message.timestamp
        for _ in 0..<8 {
            mix(UInt8(truncatingIfNeeded: timestamp))
            timestamp >>= 8
        }
        return hash
    }

    /// Subscribes to what local filters want now and unsubscribes from the rest.
    private func reconcile() {
        if cluster != nil { return reconcileClustered() }
        let filters = lock.withLockedValue { $0.interest.values.map(\.filter) }
        var wanted: Set<Name> = []
        for filter in filters { wanted.formUnion(Self.names(for: filter, prefix: prefix)) }
        let added = wanted.subtracting(subscribed)
        let removed = subscribed.subtracting(wanted)
        subscribed = wanted
        for kind in [RedisSubscriptionKind.channel, .pattern] {
            let remove = removed.filter { $0.kind == kind }.map(\.text)
            if !remove.isEmpty { _ = client.unsubscribe(from: remove, kind: kind) }
            let add = added.filter { $0.kind == kind }.map(\.text)
            if !add.isEmpty {
                client.subscribe(to: add, kind: kind) { [weak self] message in self?.receive(message) }
                    .whenFailure { [logger] error in
                        logger.warning("redis engine: subscribing failed", metadata: ["error": "\(error)"])
                    }
            }
        }
    }

    /// The Redis subscriptions that bring every topic `filter` matches (and maybe more).
    static func names(for filter: TopicFilter, prefix: String) -> [Name] {
        guard filter.hasWildcards else { return [Name(kind: .channel, text: prefix + filter.pattern)] }
        let levels = filter.levels
        var glob = escapeGlob(prefix)
        var names: [Name] = []
        for (index, level) in levels.enumerated() {
            if index > 0 { glob += "/" }
            if level == "#" {
                // `a/#` matches `a` itself too.
                if index > 0 {
                    names.append(Name(kind: .channel, text: prefix + levels[..<index].joined(separator: "/")))
                }
                glob += "*"
                break
            }
            glob += level == "+" ? "*" : escapeGlob(String(level))
        }
        names.append(Name(kind: .pattern, text: glob))
        return names
    }

    /// `text` matched literally by a Redis glob.
    static func escapeGlob(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if "*?[]\\".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }

    // MARK: - In

    func receive(_ message: RedisPubSubMessage) {
        guard let decoded = RedisBusFrame.decodePositioned(message.payload) else {
            logger.debug("redis engine: a frame that does not decode", metadata: ["channel": "\(message.channel)"])
            return
        }
        let instance = decoded.instance
        guard instance != instanceID else { return }
        if cluster != nil, case .message(let remote) = decoded.event {
            if catchingUp[remote.topic.name] != nil {
                catchingUp[remote.topic.name]?.append(message)
                return
            }
            // On a cluster a message may come on its topic's shard channel and on this instance's inbox,
            // through two primaries: once per instance and topic, in order (docs/redis.md).
            guard freshInTopic(instance, topic: remote.topic.name, sequence: decoded.sequence) else { return }
        } else {
            // A message matching a channel and a pattern of ours comes once for each.
            guard decoded.sequence > lastSequence[instance, default: 0] else { return }
            lastSequence[instance] = decoded.sequence
        }
        lastHeard[instance] = NIODeadline.now()
        switch decoded.event {
        case .message(let remote):
            if let position = decoded.position { saw(position, of: remote.topic.name) }
            bus.publishRemote(
                decoded.position.map { remote.fromRemoteInstance(at: $0) } ?? remote, on: eventLoop)
        case .join(let topic, let info):
            if bus.presence.remoteJoin(instance: instance, topic: topic, info) {
                announce(topic, .join(info))
            }
        case .leave(let topic, let info):
            if bus.presence.remoteLeave(instance: instance, topic: topic, clientID: info.clientID) != nil {
                announce(topic, .leave(info))
            }
        case .heartbeat:
            lock.withLockedValue { pending in
                if pending.peers[instance] == nil { pending.peers[instance] = .some(nil) }
            }
        case .hello:
            lock.withLockedValue { pending in
                if pending.peers[instance] == nil { pending.peers[instance] = .some(nil) }
            }
            // A new instance: tell it who is here, and which shared groups have members here.
            announceLocalState()
        case .connections(let count):
            lock.withLockedValue { $0.peers[instance] = .some(count) }
        case .goodbye:
            forget(instance)
        case .retained(let message):
            retained.applyRemote(message)
        case .claim(let publisherID):
            remoteClaim(publisherID)
        case .group(let key, let members):
            lock.withLockedValue { pending in
                if members {
                    pending.remoteGroups[key, default: []].insert(instance)
                } else {
                    pending.remoteGroups[key]?.remove(instance)
                    if pending.remoteGroups[key]?.isEmpty == true { pending.remoteGroups[key] = nil }
                }
            }
        case .interest(let filters):
            remoteWildcards[instance] = filters.compactMap { try? TopicFilter($0) }
        }
    }

    /// What Redis kept of the retained messages (`HGETALL`), into this instance's store.
    private func restoreRetained(_ reply: RESPValue) {
        var frames: [ByteBuffer] = []
        switch reply {
        case .map(let pairs):
            for pair in pairs { if case .bulkString(let frame?) = pair.value { frames.append(frame) } }
        case .array(let items?):
            // RESP2: field, value, field, value …
            for (index, item) in items.enumerated() where index % 2 == 1 {
                if case .bulkString(let frame?) = item { frames.append(frame) }
            }
        default:
            break
        }
        for frame in frames {
            if case .retained(let message)? = RedisBusFrame.decode(frame)?.event { retained.applyRemote(message) }
        }
    }

    /// A presence event of another instance, to this instance's subscribers of `topic`.
    private func announce(_ topic: Topic, _ kind: BusMessage.Kind) {
        // Listed either way (above); announced only where this instance's policy announces.
        guard bus.presence.policy.announces(topic) else { return }
        bus.publishRemote(
            BusMessage(topic: topic, payload: ByteBuffer(), timestamp: bus.clock(), kind: kind, isRemote: true),
            on: eventLoop)
    }

    /// This instance's presence entries and shared groups, for instances that may not know them.
    private func announceLocalState() {
        for (topic, info) in bus.presence.localEntries() {
            forward(BusMessage(topic: topic, payload: ByteBuffer(), timestamp: bus.clock(), kind: .join(info)))
        }
        for key in lock.withLockedValue({ Array($0.localGroups.keys) }) {
            send(RedisBusFrame.group(key, members: true, instance: instanceID))
        }
        if cluster != nil { send(RedisBusFrame.interest(localWildcards.sorted(), instance: instanceID)) }
    }

    /// An instance that said goodbye or went silent: its clients leave, its groups' members go.
    private func forget(_ instance: String) {
        lastHeard[instance] = nil
        lastSequence[instance] = nil
        remoteWildcards[instance] = nil
        lock.withLockedValue { pending in
            for key in pending.remoteGroups.keys { pending.remoteGroups[key]?.remove(instance) }
            pending.remoteGroups = pending.remoteGroups.filter { !$0.value.isEmpty }
            pending.peers[instance] = nil
        }
        for (topic, info) in bus.presence.removeInstance(instance) { announce(topic, .leave(info)) }
    }

    /// Says this instance is alive, and forgets those silent for three heartbeats.
    private func beat() {
        // Not kept while Redis is unreachable: a beat is stale once it is back (hello says this instance
        // is alive then), and kept beats would push real frames out of the bounded backlog.
        if connected {
            send(RedisBusFrame.control(.heartbeat, instance: instanceID))
            send(RedisBusFrame.connections(connectionCount(), instance: instanceID))
        }
        let horizon = NIODeadline.now() - heartbeatInterval * 3
        for (instance, heard) in lastHeard where heard < horizon { forget(instance) }
        forgetOldSeenLogPositions()
        rotateTopicSequences()
        checkPrimaries()
    }
}
