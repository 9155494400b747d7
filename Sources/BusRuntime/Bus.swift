import Atomics
package import BusCore
import Foundation
package import NIOCore
package import Storage

/// The running bus: one subscription registry, one history store, presence, and a shard per event loop
/// that does matching and delivery for its loop (DESIGN.md §4).
package final class Bus: Sendable {
    package let configuration: BusConfiguration
    package let registry: SubscriptionRegistry
    package let history: HistoryStore
    /// Durable logs' writer claims and following, when several instances share the store (nil otherwise).
    package let historySharing: HistorySharing?
    /// Named streams and the filters they capture (docs/architecture.md, "Streams").
    package let streams: StreamRegistry
    /// Confluent's Schema Registry, its log kept in the internal stream `_schemas` (issue 18,
    /// docs/protocols/schema-registry.md).
    package let schemas: SchemaRegistry
    package let presence: PresenceRegistry
    /// Record collections and their change events (issue 20, docs/records.md); a delivery of a change
    /// event to a subscriber who may not view the record is skipped (`DeliveryContext.mayView`).
    package let records: RecordCollections
    /// The payload schemas every frontend checks a publish against (issue 21, docs/topics.md).
    package var payloadSchemas: PayloadSchemas { configuration.payloadSchemas }
    package let metrics: BusMetrics
    package let shards: [LoopShard]
    /// Where durable logs are kept (nil: every log is in memory only, whatever the policy says).
    package let store: (any Store)?
    private let shardByLoop: [ObjectIdentifier: Int]
    /// Wall-clock nanoseconds since the Unix epoch (injected for tests).
    package let clock: @Sendable () -> UInt64
    private let random: @Sendable () -> UInt64
    private let rpcSlot: ProtocolMetricsSlot
    /// Services that take their topics' publications themselves (`register(_:for:)`).
    let acceptors = PublicationAcceptors()
    /// The engine joining this bus to other instances (`attach`); empty for a single instance.
    let engineReference = ManagedAtomicLazyReference<BusEngineReference>()
    /// How a loop whose hand-off backlog is past its bound pauses publishers (`setPublisherPausing`).
    private let publisherPausingReference = ManagedAtomicLazyReference<PublisherPausing>()

    package init(
        eventLoops: [any EventLoop],
        configuration: BusConfiguration = BusConfiguration(),
        metrics: BusMetrics = BusMetrics(),
        store: (any Store)? = nil,
        clock: @escaping @Sendable () -> UInt64 = Bus.systemClock,
        random: @escaping @Sendable () -> UInt64 = { UInt64.random(in: .min ... .max) }
    ) {
        precondition(!eventLoops.isEmpty, "the bus needs at least one event loop")
        self.configuration = configuration
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.random = random
        let registry = SubscriptionRegistry()
        self.registry = registry
        self.streams = StreamRegistry(
            store: store, defaultMemoryTail: configuration.streamMemoryTailBytes, clock: clock,
            makeEpoch: { String(random() & 0xFFFF_FFFF_FFFF, radix: 36) },
            changed: { registry.invalidate() })
        self.schemas = SchemaRegistry(streams: streams, clock: clock)
        self.records = RecordCollections(store: store, maxRecords: configuration.maxRecords)
        let sharing = store?.sessionOwnership
        let history = HistoryStore(
            policy: configuration.history, maxLogs: configuration.maxHistoryTopics,
            maxBytes: configuration.maxHistoryBytes, sharedWriters: sharing != nil
        ) { String(random() & 0xFFFF_FFFF_FFFF, radix: 36) }
        self.history = history
        if let store, let sharing {
            historySharing = HistorySharing(
                history: history, sharing: sharing, store: store, clock: clock, invalidate: { registry.invalidate() })
        } else {
            historySharing = nil
        }
        self.presence = PresenceRegistry(policy: configuration.presence)
        var byLoop: [ObjectIdentifier: Int] = [:]
        var shards: [LoopShard] = []
        for (index, loop) in eventLoops.enumerated() {
            byLoop[ObjectIdentifier(loop)] = index
            shards.append(
                LoopShard(
                    index: index, eventLoop: loop, shardCount: eventLoops.count,
                    cacheCapacity: configuration.matchCacheCapacity, generations: registry.generationAtomic))
        }
        self.shards = shards
        self.shardByLoop = byLoop
        self.rpcSlot = metrics.slot(for: "rpc")
        for shard in shards { shard.busReference = self }
        records.busReference = self
    }

    /// Sets, once, how the bus pauses and resumes a publisher by its id (`BusMessage.publisherID`): the
    /// connection registry's `publishingPaused(_:by:)` on the server. A loop whose backlog of deliveries
    /// from another loop passes `LoopShard.handOverBound` pauses the publishers feeding it this way
    /// (LoopShard+HandOver.swift); without it the backlog is not bounded.
    package func setPublisherPausing(
        _ pausing: @escaping @Sendable (_ publisherID: String, _ paused: Bool, _ pauser: String) -> Void
    ) {
        _ = publisherPausingReference.storeIfNilThenLoad(PublisherPausing(pausing))
    }

    var publisherPausing: (@Sendable (String, Bool, String) -> Void)? { publisherPausingReference.load()?.call }

    package static let systemClock: @Sendable () -> UInt64 = {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// The shard of `loop`. Every connection's loop must belong to the bus.
    package func shard(for loop: any EventLoop) -> LoopShard {
        guard let index = shardByLoop[ObjectIdentifier(loop)] else {
            preconditionFailure("event loop \(loop) is not one of the bus's loops")
        }
        return shards[index]
    }

    /// Moves each loop's counters into the metrics every `interval` (the caller cancels the tasks at shutdown).
    package func startMetricsReporting(every interval: TimeAmount = .seconds(1)) -> [RepeatedTask] {
        shards.map { shard in
            shard.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                self.metrics.report(&shard.stats)
            }
        }
    }

    /// Resumes durable logs from what the store kept (call before publishing anything).
    package func restoreHistory(_ logs: [StoredLog]) -> HistoryStore.Restored {
        guard let store else { return HistoryStore.Restored() }
        return history.restore(logs, now: clock(), store: store)
    }

    /// Background storage work (the caller cancels the tasks at shutdown): age retention of durable logs, and the
    /// store's commit statistics into the metrics.
    package func startStorageHousekeeping(every interval: TimeAmount = .seconds(10)) -> [RepeatedTask] {
        guard let store, let loop = shards.first?.eventLoop else { return [] }
        let statistics = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            self.metrics.reportStore(store.statistics)
        }
        let retention = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let now = self.clock()
            let writes: [StoreWrite] = self.history.durableLogsWithAgeLimit().compactMap { log in
                guard let age = log.limits.maxAgeSeconds else { return nil }
                let horizon = UInt64(age * 1e9)
                return now > horizon ? .trimLogByAge(topic: log.topic, before: now - horizon) : nil
            }
            if !writes.isEmpty { store.submit(writes) }
        }
        return [statistics, retention]
    }

    /// Evicts idle history logs every `interval` (`HistoryStore.evictIdle`; the caller cancels the task at
    /// shutdown). On the first loop; one pass over 100,000 logs holds the store's lock for a few milliseconds.
    package func startHistoryEviction(every interval: TimeAmount = .seconds(5)) -> [RepeatedTask] {
        guard let loop = shards.first?.eventLoop else { return [] }
        return [
            loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                _ = self.evictIdleHistory()
            }
        ]
    }

    /// One eviction pass now (the periodic task's work; tests call it with an injected clock).
    @discardableResult
    package func evictIdleHistory() -> HistoryStore.Eviction {
        let registry = self.registry
        return history.evictIdle(
            now: clock(), isSubscribed: { registry.namesTopic($0) }, invalidate: { registry.invalidate() })
    }

    /// The loop that owns `key`'s changes (a record collection, a collaboration session): the same for the
    /// same key, so what is published from it keeps its order (FNV-1a over the key's bytes).
    package func homeLoop(for key: String) -> any EventLoop {
        var hash: UInt64 = 1_469_598_103_934_665_603
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
        return shards[Int(hash % UInt64(shards.count))].eventLoop
    }

    /// A fresh random identifier (client ids, reply inboxes).
    package func makeIdentifier() -> String {
        let high = String(random() & 0xFFFF_FFFF_FFFF, radix: 36)
        return String(repeating: "0", count: max(0, 10 - high.count)) + high
    }

    // MARK: - Publishing

    /// Publishes from the current event loop, which must be one of the bus's; the result is returned,
    /// or nil and given to `whenDeferred` when another loop sequences the topic (see `LoopShard.publish`).
    @discardableResult
    package func publish(
        _ message: BusMessage, on loop: any EventLoop, whenDeferred: ((PublishResult) -> Void)? = nil
    ) -> PublishResult? {
        shard(for: loop).publish(message, whenDeferred: whenDeferred)
    }

    /// Publishes from a bus loop, placing the message in streams as `placement` says, and completes on that
    /// loop once every stream append is answered (stored, or refused) — with the publish's result and the
    /// streams' answers (empty when no stream captured it).
    package func publishToStreams(_ message: BusMessage, placement: StreamPlacement?, on loop: any EventLoop)
        -> EventLoopFuture<(PublishResult, [StreamAppendAck])>
    {
        let acks = loop.makePromise(of: [StreamAppendAck].self)
        let published = loop.makePromise(of: PublishResult.self)
        let result = shard(for: loop).publish(
            message, placement: placement, acknowledged: { acks.succeed($0) },
            whenDeferred: { published.succeed($0) })
        if let result { published.succeed(result) }
        return published.futureResult.and(acks.futureResult)
    }

    /// `acceptor` takes every publication to a topic `filter` matches, and a publish that is acknowledged
    /// is acknowledged once it is done (`PublicationAcceptor`). Registered at start, before clients come.
    package func register(_ acceptor: any PublicationAcceptor, for filter: TopicFilter) {
        acceptors.register(acceptor, for: filter)
        registry.invalidate()
    }

    /// Publishes from a bus loop and completes on that loop with the result.
    package func publishWithResult(_ message: BusMessage, on loop: any EventLoop) -> EventLoopFuture<PublishResult> {
        let promise = loop.makePromise(of: PublishResult.self)
        if let result = shard(for: loop).publish(message, whenDeferred: { promise.succeed($0) }) {
            promise.succeed(result)
        }
        return promise.futureResult
    }

    // MARK: - Subscribing

    /// What the subscriber wants from history when it subscribes to a concrete topic.
    package enum HistoryRequest: Sendable {
        /// The newest `count` messages.
        case last(Int)
        /// Everything after `position`; when that is not possible, the newest `fallback` messages.
        case recover(LogPosition, fallback: Int)
    }

    /// What subscribing returned.
    package struct SubscribeResult {
        package var subscription: BusSubscription
        /// The topic log's newest position at subscription time (topics with history only).
        package var position: LogPosition?
        /// Whether a recovery request was met without loss.
        package var recovered: Bool?
        /// Messages from history, oldest first. Live delivery continues after the last of them.
        package var messages: [BusMessage] = []
    }

    /// Subscribes on the subscriber's own loop (call it there). For a concrete topic with history, the
    /// log is read *after* the subscription is registered, and live messages the read already covered are
    /// skipped: the client sees every message exactly once across the switch from history to live. A
    /// filter with wildcards that asks for history (`.last(0)` asks for positions only) follows the stream
    /// covering it, when one does (`follow`); `streamEnded` is told when that stream goes away.
    package func subscribe(
        _ filter: TopicFilter, subscriber: any BusSubscriber, subscriberID: String,
        options: SubscriptionOptions = SubscriptionOptions(), presence info: PresenceInfo? = nil,
        history request: HistoryRequest? = nil, streamEnded: ((String) -> Void)? = nil
    ) -> SubscribeResult {
        subscriber.eventLoop.preconditionInEventLoop()
        let shard = shard(for: subscriber.eventLoop)
        let subscription = BusSubscription(
            filter: filter, subscriber: subscriber, subscriberID: subscriberID, shardIndex: shard.index,
            options: options)
        if let request, filter.shareGroup == nil, filter.hasWildcards, let stream = streams.covering(filter) {
            return follow(stream, subscription: subscription, history: request, ended: streamEnded)
        }
        // A subscriber that can resume from a position makes an on-demand log before it registers: the
        // registration then makes every loop's cached plan stale, so no publisher goes on routing past the
        // new log (a message routed without it would be missing from a recovery that reports complete).
        let concrete = filter.shareGroup == nil && !filter.hasWildcards
        var demanded: HistoryLogBox?
        if concrete, request != nil || subscriber.resumesFromPositions {
            demanded = history.demandLog(for: Topic(trusted: filter.pattern), now: clock()).log
        }
        registry.insert(subscription)
        engine?.interestChanged(filter, delta: 1)
        var result = SubscribeResult(subscription: subscription)
        guard concrete else { return result }
        let topic = Topic(trusted: filter.pattern)
        // The log found or made above is the topic's: no second lookup under the map's lock.
        if let log = demanded ?? history.log(for: topic, create: true) {
            log.withLog(now: clock()) { log in
                result.position = log.position
                switch request {
                case .last(let count):
                    result.messages = log.last(count)
                case .recover(let position, let fallback):
                    if case .complete(let messages) = log.read(after: position) {
                        result.recovered = true
                        result.messages = messages
                    } else {
                        result.recovered = false
                        result.messages = log.last(fallback)
                    }
                case nil:
                    break
                }
                subscription.skipThroughOffset = log.lastOffset
            }
        }
        if let info { joinPresence(filter, info, on: subscriber.eventLoop) }
        return result
    }

    /// Lists `info` as present on `filter`'s topic (a concrete, unshared filter on a channel with presence)
    /// and announces the join; for a subscription that outlives its connections (an MQTT session), whose
    /// presence follows the connection rather than the subscription. On `loop`, the subscriber's.
    package func joinPresence(_ filter: TopicFilter, _ info: PresenceInfo, on loop: any EventLoop) {
        guard filter.shareGroup == nil, !filter.hasWildcards else { return }
        let topic = Topic(trusted: filter.pattern)
        guard presence.policy.isEnabled(for: topic), presence.join(topic, info) else { return }
        announce(BusMessage(topic: topic, payload: ByteBuffer(), timestamp: clock(), kind: .join(info)), on: loop)
    }

    /// Takes `clientID` off `filter`'s presence list and announces the leave (see `joinPresence`).
    package func leavePresence(_ filter: TopicFilter, clientID: String, on loop: any EventLoop) {
        guard filter.shareGroup == nil, !filter.hasWildcards else { return }
        let topic = Topic(trusted: filter.pattern)
        guard let info = presence.leave(topic, clientID: clientID) else { return }
        announce(BusMessage(topic: topic, payload: ByteBuffer(), timestamp: clock(), kind: .leave(info)), on: loop)
    }

    /// A join or leave goes to the topic's subscribers where the policy announces them; other instances
    /// hear it either way (their presence lists mirror this one's), and decide for their own subscribers.
    private func announce(_ event: BusMessage, on loop: any EventLoop) {
        if presence.policy.announces(event.topic) {
            shard(for: loop).publish(event)
        } else {
            engine?.forward(event)
        }
    }

    /// Ends a subscription (on the subscriber's loop). Messages already routed to it are skipped.
    package func unsubscribe(_ subscription: BusSubscription, presenceClientID: String? = nil) {
        subscription.isActive = false
        guard registry.remove(subscription) else { return }
        engine?.interestChanged(subscription.filter, delta: -1)
        if subscription.filter.shareGroup == nil, !subscription.filter.hasWildcards {
            // The log stays for its age after its last subscriber left, so that subscriber can recover.
            history.touch(Topic(trusted: subscription.filter.pattern), now: clock())
        }
        if let clientID = presenceClientID {
            leavePresence(subscription.filter, clientID: clientID, on: subscription.subscriber.eventLoop)
        }
    }

    /// Hands a subscription to another subscriber (possibly on another loop) in one registry step: each
    /// publish is routed to exactly one of the two. Deliveries already routed to `old` still reach its
    /// subscriber (it stays active), which forwards them — how an MQTT session moves between loops
    /// without losing or duplicating a message. Callable from any loop.
    package func transfer(_ old: BusSubscription, to subscriber: any BusSubscriber, subscriberID: String)
        -> BusSubscription
    {
        let new = BusSubscription(
            filter: old.filter, subscriber: subscriber, subscriberID: subscriberID,
            shardIndex: shard(for: subscriber.eventLoop).index, options: old.options)
        registry.replace(old, with: new)
        return new
    }

    // MARK: - History

    /// Reads a topic's history: the newest `limit` messages, or those after `after` (when given).
    package func readHistory(_ topic: Topic, after position: LogPosition?, limit: Int) -> HistoryReadResult? {
        // Reading creates the log, so the reader gets a real epoch to resume from later; the number of
        // logs is capped (`maxHistoryTopics`), so made-up names cannot grow memory without bound.
        let (demanded, made) = history.demandLog(for: topic, now: clock())
        guard let log = demanded else { return nil }
        // A log made here is new to the publishers' cached plans.
        if made { registry.invalidate() }
        return log.withLog(now: clock()) { log in
            guard let position else {
                return HistoryReadResult(position: log.position, recovered: nil, messages: log.last(limit))
            }
            if case .complete(let messages) = log.read(after: position, limit: limit) {
                return HistoryReadResult(position: log.position, recovered: true, messages: messages)
            }
            return HistoryReadResult(position: log.position, recovered: false, messages: [])
        }
    }

    // MARK: - Request/reply

    /// Publishes `payload` on `topic` with a private reply topic and waits for the first reply.
    /// Fails at once with `.noResponders` when nobody is subscribed (on a single instance), or with `.timeout`.
    package func request(
        topic: Topic, payload: ByteBuffer, headers: MessageHeaders = MessageHeaders(), requesterID: String?,
        timeout: TimeAmount, on loop: any EventLoop
    ) -> EventLoopFuture<BusMessage> {
        loop.preconditionInEventLoop()
        let shard = shard(for: loop)
        // A '$' first level keeps replies private from '#' and '+/…' subscribers ([MQTT-4.7.2-1]).
        let inbox = Topic(trusted: "$rpc/" + makeIdentifier() + makeIdentifier())
        let waiter = RPCWaiter(eventLoop: loop, metricsSlot: rpcSlot)
        let filter = try! TopicFilter(inbox.name)  // made from a valid topic above
        let waiting = subscribe(filter, subscriber: waiter, subscriberID: inbox.name)
        var headers = headers
        headers.replyTo = inbox.name
        // Requests are never forwarded to a log owner (they are not history), so the result is immediate.
        let result = shard.publish(
            BusMessage(topic: topic, payload: payload, headers: headers, publisherID: requesterID, timestamp: clock()))
        // With an engine a responder may be on another instance: only the timeout says there was none.
        if result?.recipients == 0, engine == nil {
            unsubscribe(waiting.subscription)
            waiter.fail(BusError.noResponders)
            return waiter.promise.futureResult
        }
        let timer = loop.scheduleTask(in: timeout) {
            waiter.fail(BusError.timeout)
        }
        waiter.promise.futureResult.whenComplete { _ in
            timer.cancel()
            self.unsubscribe(waiting.subscription)
        }
        return waiter.promise.futureResult
    }
}

/// A read from history.
package struct HistoryReadResult: Sendable {
    package var position: LogPosition
    package var recovered: Bool?
    package var messages: [BusMessage]
}

/// `Bus.setPublisherPausing`'s function, boxed for the lazy reference.
final class PublisherPausing: Sendable {
    let call: @Sendable (String, Bool, String) -> Void
    init(_ call: @escaping @Sendable (String, Bool, String) -> Void) { self.call = call }
}
