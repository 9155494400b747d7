import BusCore
import BusRuntime
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RedisEngine
import RedisWire

/// Redis Cluster (docs/redis.md, "Redis Cluster"). What differs from one Redis:
/// - **Keys.** Everything of one topic carries the hash tag `{t:<topic>}` (`clusterTag`): its shard
///   channel and its shared log's hash and stream, so `switchboard_append`/`demand`/`check` touch one slot
///   and publish in it. The `t:` keeps the tag from being empty (a topic starting with `}`), which would
///   hash each name whole. The retained hash and the records are single keys, in whatever slot they hash to.
/// - **Concrete interest** is a shard channel per topic (`SSUBSCRIBE <prefix>{t:<topic>}` on the slot's
///   primary), and a publication is `SPUBLISH`ed there (by `switchboard_append` for a topic keeping history).
/// - **Wildcard interest** (sharded pub/sub has no patterns) is an interest table: each instance sends its
///   wildcard filters on the control channel when they change, to every instance that says hello, and after
///   each reconnect; they go with it when it says goodbye or falls silent. A publishing instance matches the
///   topic against each other instance's filters and `SPUBLISH`es the frame once more to the inbox
///   channel `<prefix-without-colon>.inbox:{<instance id>}` of each that has a match (for a topic keeping
///   history, once `switchboard_append` answered, with the position).
/// - **Exactly once, in order.** A message can reach an instance on its topic's channel and on its inbox,
///   two ordered routes through two primaries. Frames are numbered per sending instance in publish order, so
///   a receiver keeps the newest number it delivered per sending instance and topic and drops any frame not
///   past it: the first copy to arrive is delivered, its twin dropped, and since each route keeps its order
///   no message overtakes an earlier one of the same topic. (When an instance's interest changes while a
///   publisher sends, a frame that travelled only on the slower route behind a newer one is dropped: lost,
///   never duplicated or reordered.)
/// - **Control** (presence, hello, heartbeats, goodbye, claims, shared groups, retained announcements,
///   interest) stays on classic `PUBLISH`/`SUBSCRIBE` through one node (first the seed that answered):
///   Redis Cluster broadcasts classic pub/sub to every node, and this traffic is small. When that node is
///   lost the connection dials the other nodes known (`RedisClusterClient.knownNodes`) and the instance
///   resynchronises as after any reconnect.
extension RedisBusEngine {
    /// The hash tag every key and the shard channel of `topic` carry.
    static func clusterTag(_ topic: String) -> String { "{t:" + topic + "}" }

    /// The channel a publication to `topic` goes to: `<prefix><topic>` on one Redis, the topic's shard
    /// channel `<prefix>{t:<topic>}` on a cluster.
    func topicChannel(_ topic: String) -> String {
        cluster == nil ? prefix + topic : prefix + Self.clusterTag(topic)
    }

    /// An instance's inbox shard channel, where wildcard matches for it are sent.
    func inboxChannel(_ instance: String) -> String { String(prefix.dropLast()) + ".inbox:{" + instance + "}" }

    /// A command on a key: to its slot's primary on a cluster, else on the one connection.
    func keyed(_ command: RESPCommand, key: String) -> EventLoopFuture<RESPValue> {
        cluster?.send(command, key: key) ?? client.send(command)
    }

    /// Connects to every primary of the cluster the seed belongs to and loads the history functions on each
    /// (and on each primary again whenever its connection becomes ready: a new primary, a restart).
    func startCluster() -> EventLoopFuture<Void> {
        let cluster = RedisClusterClient(configuration: client.configuration, eventLoop: eventLoop, logger: logger)
        self.cluster = cluster
        let load = loadFunctionsCommand
        cluster.observeNodeReady { [weak self, logger] address in
            guard let self, let cluster = self.cluster else { return }
            cluster.send(load, toNode: address).whenFailure { error in
                logger.warning(
                    "redis engine: loading the history functions on a cluster primary failed",
                    metadata: ["node": "\(address)", "error": "\(error)"])
            }
        }
        cluster.observeShardMoved { [weak self] channel in
            guard let self, channel.hasPrefix(self.prefix + "{t:"), channel.hasSuffix("}") else { return }
            self.catchUp(String(channel.dropFirst(self.prefix.count + 3).dropLast()))
        }
        // The control channel's connection (`client`) moves to another node when its own is lost: classic
        // pub/sub is broadcast to every node of a cluster, so any live one carries it.
        client.dial { [weak cluster] in cluster?.knownNodes ?? [] }
        return cluster.connect().flatMap { cluster.sendToEveryPrimary(load) }.flatMap {
            // Our inbox: wildcard matches the others send us.
            cluster.subscribe(shardChannel: self.inboxChannel(self.instanceID)) { [weak self] message in
                self?.receive(message)
            }
        }.map {
            self.logger.info(
                "redis engine: Redis Cluster",
                metadata: ["primaries": "\(cluster.topology.primaries.map(\.description))"])
        }
    }

    /// Sends frames on a cluster: control frames on the control connection; each publication to its topic's
    /// shard channel (or through `switchboard_append`) and to the inbox of each instance with a wildcard
    /// filter matching it. Commands for one primary go in one write, in publish order.
    func publishClustered(_ frames: [Outgoing], cluster: RedisClusterClient) {
        var control: [RESPCommand] = []
        var keyed: [(command: RESPCommand, key: String)] = []
        var appends: [(index: Int, append: SharedAppend, frame: ByteBuffer, inboxes: [String])] = []
        for item in frames {
            let frame = item.frame
            guard let route = RedisBusFrame.route(of: frame) else { continue }
            guard route.kind == .message else {
                control.append(RESPCommand([ByteBuffer(string: "PUBLISH"), ByteBuffer(string: controlChannel), frame]))
                if route.kind == .retained {
                    keyed.append((retainedCommand(frame, topic: route.topic), retainedKey))
                }
                continue
            }
            let inboxes = inboxChannels(for: route.topic)
            if let append = item.append {
                appends.append((keyed.count, append, frame, inboxes))
                keyed.append((appendCommand(frame, append), historyMetaKey(route.topic)))
                continue
            }
            let channel = topicChannel(route.topic)
            keyed.append((Self.shardPublish(channel, item.payload), channel))
            for inbox in inboxes { keyed.append((Self.shardPublish(inbox, item.payload), inbox)) }
        }
        if !control.isEmpty {
            for reply in client.send(batch: control) { reply.whenFailure { [logger] in Self.logFailure(logger, $0) } }
        }
        let replies = cluster.send(batch: keyed)
        for reply in replies { reply.whenFailure { [logger] in Self.logFailure(logger, $0) } }
        for (index, append, frame, inboxes) in appends {
            appended(append, reply: replies[index])
            guard !inboxes.isEmpty else { continue }
            replies[index].whenSuccess { reply in
                // As `switchboard_append` published it on the topic's channel: with the position, or as it
                // is when the instances keep no shared log of the topic.
                var payload = frame
                if case .array(let items?) = reply, items.count == 2, let epoch = items[0].string,
                    case .integer(let offset) = items[1]
                {
                    payload = ByteBuffer(string: "P\(offset) \(epoch)\n")
                    payload.writeImmutableBuffer(frame)
                }
                let sends = cluster.send(batch: inboxes.map { (Self.shardPublish($0, payload), $0) })
                for send in sends { send.whenFailure { [logger = self.logger] in Self.logFailure(logger, $0) } }
            }
        }
    }

    private static func shardPublish(_ channel: String, _ payload: ByteBuffer) -> RESPCommand {
        RESPCommand([ByteBuffer(string: "SPUBLISH"), ByteBuffer(string: channel), payload])
    }

    private static func logFailure(_ logger: Logger, _ error: any Error) {
        logger.debug("redis engine: a publish failed", metadata: ["error": "\(error)"])
    }

    /// The inboxes of the other instances with a wildcard filter matching `topic`.
    func inboxChannels(for topic: String) -> [String] {
        guard !remoteWildcards.isEmpty, let topic = try? Topic(topic) else { return [] }
        var inboxes: [String] = []
        for (instance, filters) in remoteWildcards where filters.contains(where: { $0.matches(topic) }) {
            inboxes.append(inboxChannel(instance))
        }
        return inboxes
    }

    /// Shard channels for the concrete filters; the wildcard filters announced when they changed.
    func reconcileClustered() {
        guard let cluster else { return }
        let filters = lock.withLockedValue { $0.interest.values.map(\.filter) }
        var channels: Set<String> = []
        var wildcards: Set<String> = []
        for filter in filters {
            if filter.hasWildcards {
                wildcards.insert(filter.pattern)
            } else {
                channels.insert(topicChannel(filter.pattern))
            }
        }
        for channel in subscribedShards.subtracting(channels) { _ = cluster.unsubscribe(shardChannel: channel) }
        for channel in channels.subtracting(subscribedShards) {
            cluster.subscribe(shardChannel: channel) { [weak self] message in self?.receive(message) }
                .whenFailure { [logger] error in
                    logger.warning("redis engine: subscribing failed", metadata: ["error": "\(error)"])
                }
        }
        subscribedShards = channels
        if wildcards != localWildcards {
            localWildcards = wildcards
            send(RedisBusFrame.interest(wildcards.sorted(), instance: instanceID))
        }
    }

    /// A topic's shard subscription moved to another primary (a reshard): what was published on the new
    /// primary before the subscription reached it was not heard. For a topic with a shared log this
    /// instance saw, the newest entries are read (its hash's epoch, then `XREVRANGE`, one slot, one primary,
    /// in order) and those past the newest position seen are delivered, in order, before the frames that
    /// arrived meanwhile (held until then); twins are dropped as always (`freshInTopic`).
    func catchUp(_ topic: String) {
        guard let cluster, let seen = seenLogPositions[topic], catchingUp[topic] == nil else { return }
        catchingUp[topic] = []
        let replies = cluster.send(batch: [
            (RESPCommand("HGET", historyMetaKey(topic), "epoch"), historyMetaKey(topic)),
            (RESPCommand("XREVRANGE", historyStreamKey(topic), "+", "-", "COUNT", "1000"), historyMetaKey(topic)),
        ])
        replies[0].and(replies[1]).whenComplete { result in
            var missed = 0
            if case .success((let epoch, .array(let entries?))) = result, epoch.string == seen.position.epoch {
                for entry in entries.reversed() {
                    guard case .array(let parts?) = entry, parts.count == 2, let id = parts[0].string,
                        let offset = id.split(separator: "-").last.flatMap({ UInt64($0) }),
                        offset > seen.position.offset, case .array(let fields?) = parts[1], fields.count == 2,
                        case .bulkString(let frame?) = fields[1],
                        let decoded = RedisBusFrame.decode(frame), case .message(let message) = decoded.event,
                        decoded.instance != self.instanceID,
                        self.freshInTopic(decoded.instance, topic: topic, sequence: decoded.sequence)
                    else { continue }
                    let position = LogPosition(offset: offset, epoch: seen.position.epoch)
                    self.saw(position, of: topic)
                    self.bus.publishRemote(message.fromRemoteInstance(at: position), on: self.eventLoop)
                    missed += 1
                }
            } else if case .failure(let error) = result {
                self.logger.warning(
                    "redis engine: reading a moved topic's log failed",
                    metadata: ["topic": "\(topic)", "error": "\(error)"])
            }
            if missed > 0 {
                self.logger.info(
                    "redis engine: a reshard moved a topic; delivered from its log what the move missed",
                    metadata: ["topic": "\(topic)", "messages": "\(missed)"])
            }
            for held in self.catchingUp.removeValue(forKey: topic) ?? [] { self.receive(held) }
        }
    }

    /// How long a request's reply topic is subscribed by name (`holdReplyInbox`).
    static let replyInboxHold: TimeAmount = .seconds(10)

    /// A request whose reply topic a local wildcard covers (NATS clients answer on `_INBOX.<id>.*`): the
    /// responder's instance may not have heard that wildcard yet (the interest table travels on the control
    /// channel, the request on a shard channel), so the reply topic itself is subscribed, by name, for
    /// `replyInboxHold` — its `SSUBSCRIBE` written before the request is (`flush` subscribes first). On one
    /// Redis the pattern subscription and the request share one connection, which orders them already.
    func holdReplyInbox(of message: BusMessage) {
        guard let reply = message.headers.replyTo, let topic = try? Topic(reply),
            let filter = try? TopicFilter(reply), !filter.hasWildcards
        else { return }
        let covered = lock.withLockedValue { pending in
            pending.interest.values.contains { $0.filter.hasWildcards && $0.filter.matches(topic) }
        }
        guard covered else { return }
        interestChanged(filter, delta: 1)
        eventLoop.scheduleTask(in: Self.replyInboxHold) { self.interestChanged(filter, delta: -1) }
    }

    /// Whether a message frame numbered `sequence` from `instance` to `topic` is past the newest delivered.
    func freshInTopic(_ instance: String, topic: String, sequence: UInt64) -> Bool {
        topicSequences.isFresh(instance: instance, topic: topic, sequence: sequence)
    }

    /// Heartbeats between rotations of the per-topic sequence numbers: an entry lives 30–60 s after it was
    /// last used, far longer than the twin of a frame can lag behind it.
    static let topicSequenceGeneration = 15

    /// A primary without a connection fails the commands of its slots (their topics' publications, logs
    /// and subscriptions): the instance says it is degraded until every primary of the map is reachable.
    func checkPrimaries() {
        guard let cluster else { return }
        let unreachable = cluster.unreachablePrimaries
        let reason =
            unreachable.isEmpty
            ? nil
            : "Redis Cluster primaries unreachable: " + unreachable.map(\.description).joined(separator: ",")
        lock.withLockedValue { $0.primariesDown = reason }
    }

    func rotateTopicSequences() {
        beatsSinceRotation += 1
        guard beatsSinceRotation >= Self.topicSequenceGeneration else { return }
        beatsSinceRotation = 0
        topicSequences.rotate()
    }
}
