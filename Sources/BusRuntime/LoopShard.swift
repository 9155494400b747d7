package import Atomics
package import BusCore
package import NIOCore
import Storage

/// The bus's presence on one event loop. Publishers on this loop match here (through a loop-local
/// cache, so a hot topic costs one atomic load and one dictionary lookup), and deliveries for
/// subscribers on this loop are made here, in batches: one hand-off per target loop per batch, one
/// flush per touched connection per batch (DESIGN.md §4).
///
/// Everything mutable is confined to `eventLoop`.
package final class LoopShard: @unchecked Sendable {
    /// One message for some subscribers of one target loop.
    enum Delivery {
        case many(BusMessage, [BusSubscription])
        case one(BusMessage, BusSubscription)
        /// Consecutive messages for the same subscriptions (one plan's targets on the receiving loop):
        /// the list is retained once per run, not once per message, on either loop.
        case run([BusSubscription], [BusMessage])
        /// Consecutive plain publications packed into one buffer (`publishPlain`): the receiving loop makes
        /// their messages.
        case packed(PackedPublications)
    }

    /// The run being built for another loop: the messages of consecutive publishes on one plan.
    struct OpenRun {
        let plan: MatchPlan
        let subscriptions: [BusSubscription]
        var messages: [BusMessage]
    }

    /// An acknowledged publish waiting for its parts (the streams' stores, an acceptor). Confined to its
    /// shard's loop (it only crosses threads inside the acceptor's hop back).
    final class AwaitedAcknowledgement: @unchecked Sendable {
        let completion: ([StreamAppendAck]) -> Void
        /// Parts not answered yet: the streams, plus one for an acceptor.
        var parts = 1
        var acks: [StreamAppendAck] = []
        /// The acceptor's failure, answered after the streams' acks.
        var refusal: StreamAppendAck?

        init(completion: @escaping ([StreamAppendAck]) -> Void) {
            self.completion = completion
        }
    }

    /// A publish to a topic owned by another shard, with where to report its result.
    struct Forwarded {
        let message: BusMessage
        let completion: ((PublishResult) -> Void)?
    }

    /// A publication to a durable log, reserved and waiting for its commit.
    struct PendingDurable {
        let log: HistoryLogBox
        let message: BusMessage
        let completion: ((PublishResult) -> Void)?
    }

    /// Carries loop-confined values between loops inside `execute`; each is only touched by one loop at a time.
    struct Handover<Value>: @unchecked Sendable {
        let value: Value
    }

    package let index: Int
    package let eventLoop: any EventLoop
    /// Set once by `Bus.init`; the bus outlives its shards.
    unowned(unsafe) var busReference: Bus?
    /// The bus's engine (`Bus.attach`), set on this loop: read per publish with a plain load.
    var engine: (any BusEngine)?
    var bus: Bus { busReference.unsafelyUnwrapped }
    /// `bus.registry`'s generation counter, read once or twice per publish (the registry outlives the shard).
    @usableFromInline let generations: UnsafeAtomic<UInt64>
    @usableFromInline var generation: UInt64 { generations.load(ordering: .acquiring) }

    private var cache: BoundedCache<Topic, MatchPlan>
    /// Plans shared by the topics that differ only in their last level, when nothing tells them apart: no
    /// subscription, stream or history rule names that level, and the topics keep no log of their own.
    /// A topic per record (`collections/<c>/<id>`) or per request then costs one lookup here, not a match
    /// of the index and a plan for each. Same generation rule as `cache`.
    private var familyCache: BoundedCache<TopicFamily, MatchPlan>
    /// Plans cached per topic and per family (tests: which topics share a plan).
    var cachedPlanCounts: (topics: Int, families: Int) { (cache.count, familyCache.count) }
    @usableFromInline var cacheGeneration: UInt64 = 0
    /// The last plan used: a publisher repeating a topic skips the cache's hashing. Same generation rule.
    private var lastPlan: MatchPlan? {
        didSet {
            // With an engine every publication goes out to the other instances.
            lastPlanIsRouted =
                lastPlan.map { $0.recipientCount > 0 || $0.log != nil || !$0.streams.isEmpty || $0.acceptor != nil }
                ?? false
                || engine != nil
            lastPlanPackedTarget = lastPlan?.packedTarget ?? -1
            lastPlanIdentifier = lastPlan.map(ObjectIdentifier.init)
            lastPlanReference = lastPlan.map(Unmanaged.passUnretained)
        }
    }
    /// `packedTarget`, the identity of `lastPlan` and `lastPlan` unretained (it holds it), read by
    /// `publishPlain` without a reference count.
    var lastPlanPackedTarget = -1
    var lastPlanIdentifier: ObjectIdentifier?
    var lastPlanReference: Unmanaged<MatchPlan>?
    @usableFromInline var lastPlanTopic = Topic(trusted: "")
    /// `isRouted` of `lastPlan`, so that asking costs no reference count.
    @usableFromInline var lastPlanIsRouted = false
    /// The open local run (LoopShard+LocalRun.swift): plain publications for this loop's own subscribers,
    /// written per subscriber when the read ends. Its plan is held (a delivery may replace `lastPlan`, its
    /// only other holder), and compared by identity per publication.
    var localRunPlan: MatchPlan?
    var localRunIdentifier: ObjectIdentifier?
    var localRunTopic = Topic(trusted: "")
    var localRunPublisherID: String?
    /// The run's publications: timestamp (8 bytes), length (4, host order), payload, as a packed run's.
    var localRunPayloads = ByteBuffer()
    var localRunCount = 0
    /// Per one-off prefix, whether anything may route a topic under it (`isRoutedOnce(_:under:)`).
    var oneOffAnswers: [OneOffAnswer] = []
    var outgoing: [[Delivery]]
    /// Per other loop, the run `outgoing` gets next (closed before anything else is added there).
    private var openRuns: [OpenRun?]
    /// The identifiers of `openRuns`' plans, compared per message.
    private var openRunPlans: [ObjectIdentifier?]
    /// Per other loop, the packed run `outgoing` gets next, when that is the open one (`publishPlain`);
    /// `openPackedReferences` holds the same runs unretained, for the append without a reference count.
    var openPacked: [PackedPublications?]
    var openPackedReferences: [Unmanaged<PackedPublications>?]
    private var forwards: [[Forwarded]]
    /// Durable publications reserved this tick: stored in one batch at the hand-off.
    var pendingDurable: [PendingDurable] = []
    /// Per durable log, publications waiting for its writer claim, in publish order (several instances
    /// share the store; LoopShard+HistoryWriter.swift). Empty on a single instance.
    var awaitingWriter: [ObjectIdentifier: AwaitingWriter] = [:]
    /// Stream appends waiting for the store, stored in one batch at the hand-off (LoopShard+Streams).
    var pendingStreamAppends: [PendingStreamAppend] = []
    /// Stream captures waiting for writer claims, in capture order, and how many of them each stream has
    /// (several instances share the store; LoopShard+StreamWriter.swift). Empty on a single instance.
    var heldCaptures: [HeldCapture] = []
    var heldCaptureHead = 0
    var heldStreams: [ObjectIdentifier: Int] = [:]
    /// Acknowledged publishes (`publish(_:placement:acknowledged:)`) whose answers are not given yet, in
    /// publish order from `awaitingHead`: streams' stores and acceptors finish in any order, answers
    /// leave in publish order (a protocol matches them to its publishes by order).
    var awaiting: [AwaitedAcknowledgement] = []
    private var awaitingHead = 0
    private var flushScheduled = false
    /// Whether `forwards` or another loop's `outgoing` holds anything: a read that routed only to this
    /// loop's subscribers skips the scan of the other loops' batches.
    var hasForOtherLoops = false
    // Starts above every subscriber's initial mark (0), so a first delivery always counts as new.
    var batchMark: UInt64 = 1
    var touched: [any BusSubscriber] = []
    /// Connections written to and waiting for their flush, from `unflushedHead` on, each marked
    /// `unflushedMark` until flushed (`flushTouched`).
    var unflushed: [any BusSubscriber] = []
    var unflushedHead = 0
    var drainScheduled = false
    /// Messages delivered on this loop since the last flush: a few tell a sparse batch.
    var messagesSinceFlush = 0
    /// `afterDeliveries` completions waiting for this tick's hand-off.
    var barriers: [() -> Void] = []
    /// Loops handed deliveries since the last barrier went out (bit per shard; all bits past 64 loops).
    var dispatchedSinceBarrier: UInt64 = 0
    /// What other loops handed this one and it has not delivered yet (LoopShard+HandOver.swift).
    let handOver = HandOverCredit()
    /// Per other loop, the publishers paused because its backlog passed `handOverBound`.
    var handOverPaused: [Set<String>]
    package var stats = ShardStats()

    init(
        index: Int, eventLoop: any EventLoop, shardCount: Int, cacheCapacity: Int, generations: UnsafeAtomic<UInt64>
    ) {
        self.index = index
        self.generations = generations
        self.eventLoop = eventLoop
        self.cache = BoundedCache(capacity: cacheCapacity)
        self.familyCache = BoundedCache(capacity: cacheCapacity)
        self.outgoing = Array(repeating: [], count: shardCount)
        self.openRuns = Array(repeating: nil, count: shardCount)
        self.openRunPlans = Array(repeating: nil, count: shardCount)
        self.openPacked = Array(repeating: nil, count: shardCount)
        self.openPackedReferences = Array(repeating: nil, count: shardCount)
        self.forwards = Array(repeating: [], count: shardCount)
        self.handOverPaused = Array(repeating: [], count: shardCount)
    }

    // MARK: - Publishing

    /// Publishes from this loop (must run on `eventLoop`). The result — the message's log position when
    /// the topic keeps history, and how many subscriptions it was routed to — is returned at once; or,
    /// when another loop owns the topic's log, nil is returned and `whenDeferred` gets the result on this
    /// loop once the owner has appended it. `whenDeferred` is called only then, so a caller that does not
    /// need the result passes none and allocates nothing.
    @discardableResult
    package func publish(_ message: BusMessage, whenDeferred: ((PublishResult) -> Void)? = nil) -> PublishResult? {
        eventLoop.preconditionInEventLoop()
        closeLocalRun()
        let plan = self.plan(for: message.topic)
        // One array count per publish: streams capture from here, on the publisher's loop.
        if !plan.streams.isEmpty, Self.isStoredInLog(message) {
            if message.isStoredElsewhere(storeShared: bus.streams.sharing != nil) {
                captureRemote(message, streams: plan.streams)
            } else {
                capture(message, streams: plan.streams, placement: nil, acknowledged: nil)
            }
        }
        if let acceptor = plan.acceptor, !message.isRemote { acceptor.accept(message, from: eventLoop, done: nil) }
        return publish(message, plan: plan, whenDeferred: whenDeferred)
    }

    /// Publishes as `publish(_:whenDeferred:)` does, placing the message in streams as `placement` says
    /// (key, partition, a named stream, a message id); `acknowledged` gets every stream's answer on this
    /// loop once each is stored (none: an empty list, at once).
    @discardableResult
    package func publish(
        _ message: BusMessage, placement: StreamPlacement?, acknowledged: @escaping ([StreamAppendAck]) -> Void,
        whenDeferred: ((PublishResult) -> Void)? = nil
    ) -> PublishResult? {
        eventLoop.preconditionInEventLoop()
        closeLocalRun()
        let plan = self.plan(for: message.topic)
        let awaited = AwaitedAcknowledgement(completion: acknowledged)
        awaiting.append(awaited)
        // A durable log several instances write is one more part: answered once stored (or refused).
        let waitsForLog = waitsForSharedLog(plan) && Self.isStoredInLog(message)
        if waitsForLog { awaited.parts += 1 }
        if let acceptor = plan.acceptor, !message.isRemote {
            awaited.parts += 1
            acceptor.accept(message, from: eventLoop) { failure in
                self.eventLoop.execute {
                    if let failure {
                        awaited.refusal = StreamAppendAck(
                            stream: message.topic.name, partition: 0, offset: 0, epoch: "", outcome: .refused(failure))
                    }
                    self.answered(awaited)
                }
            }
        }
        if Self.isStoredInLog(message) {
            capture(message, streams: plan.streams, placement: placement) { acks in
                awaited.acks = acks
                self.answered(awaited)
            }
        } else {
            answered(awaited)
        }
        if waitsForLog {
            let result = publish(message, plan: plan) { result in
                self.answerLogPart(of: awaited, topic: message.topic, with: result)
                whenDeferred?(result)
            }
            if let result { answerLogPart(of: awaited, topic: message.topic, with: result) }
            return result
        }
        return publish(message, plan: plan, whenDeferred: whenDeferred)
    }

    /// One part of `awaited`'s answer came: gives every answer at the front that is complete, in order.
    func answered(_ awaited: AwaitedAcknowledgement) {
        awaited.parts -= 1
        while awaitingHead < awaiting.count, awaiting[awaitingHead].parts == 0 {
            let done = awaiting[awaitingHead]
            awaitingHead += 1
            done.completion(done.refusal.map { done.acks + [$0] } ?? done.acks)
        }
        if awaitingHead == awaiting.count {
            awaiting.removeAll(keepingCapacity: true)
            awaitingHead = 0
        } else if awaitingHead >= 1_024 {
            awaiting.removeFirst(awaitingHead)
            awaitingHead = 0
        }
    }

    @inline(__always)
    func publish(_ message: BusMessage, plan: MatchPlan, whenDeferred: ((PublishResult) -> Void)?)
        -> PublishResult?
    {
        if let engine, !message.isRemote {
            // With an engine a topic keeping history is sequenced by the log the instances share; when this
            // instance keeps a window of it, the message is routed here once it has its shared position.
            if Self.isStoredInLog(message),
                let limits = plan.log?.limits ?? bus.history.policy.limits(for: message.topic),
                !limits.durable
            {
                guard let log = plan.log, log.isShared else {
                    // No window of the shared log here: routed at once. A publisher waiting for the answer
                    // gets it once the message is in the shared log (so a publish answered on one instance
                    // is sequenced before one made after it on another), with its shared position.
                    guard let whenDeferred else {
                        engine.sequence(message, limits: limits, from: eventLoop, routed: nil, answered: nil)
                        return publish(message, here: plan, whenDeferred: nil)
                    }
                    let local = publish(message, here: plan, whenDeferred: nil)
                    let handover = Handover(value: whenDeferred)
                    let recipients = local?.recipients ?? 0
                    let localPosition = local?.position
                    engine.sequence(message, limits: limits, from: eventLoop, routed: nil) { position in
                        handover.value(PublishResult(position: position ?? localPosition, recipients: recipients))
                    }
                    return nil
                }
                let handover = Handover(value: whenDeferred)
                engine.sequence(
                    message, limits: limits, from: eventLoop, routed: { handover.value?($0) }, answered: nil)
                return nil
            }
            // A durable log the instances share through the store has one writer, which numbers the
            // message: it goes to the other instances once stored, with its position (`durableStored`).
            // (Without a log here — the history store full — nothing is stored: forwarded at once.)
            if !(bus.historySharing != nil && Self.isStoredInLog(message) && plan.log?.durable == true) {
                engine.forward(message)
            }
        }
        return publish(message, here: plan, whenDeferred: whenDeferred)
    }

    /// Publishes a message of this instance the engine sequenced (`Bus.publishSequenced`): on to the log's
    /// owner and its subscribers, as a remote message is.
    func publishSequenced(_ message: BusMessage, whenDeferred: ((PublishResult) -> Void)?) -> PublishResult? {
        eventLoop.preconditionInEventLoop()
        closeLocalRun()
        return publish(message, here: self.plan(for: message.topic), whenDeferred: whenDeferred)
    }

    /// The local part of a publish: to the log's owner loop when another loop sequences the topic, else
    /// appended and routed here.
    @inline(__always)
    private func publish(_ message: BusMessage, here plan: MatchPlan, whenDeferred: ((PublishResult) -> Void)?)
        -> PublishResult?
    {
        if plan.log != nil, plan.owner != index, Self.isStoredInLog(message) {
            forwards[plan.owner].append(Forwarded(message: message, completion: whenDeferred))
            hasForOtherLoops = true
            scheduleHandOff()
            return nil
        }
        return publishHere(message, plan: plan, completion: whenDeferred)
    }

    /// Whether a publication to `topic` would reach a subscriber or be kept in a log. A frontend that
    /// learns it would not can skip building the message (publishing into the void is common).
    /// Inlinable: the common case (the topic asked about last, nothing subscribed since) is a load and
    /// three compares in the frontend's publish path. (Once the generation matches, `lastPlan` is set:
    /// `lookUpPlan` sets both.)
    @inlinable @inline(__always)
    package func isRouted(_ topic: Topic) -> Bool {
        if generation == cacheGeneration, topic.isIdentical(to: lastPlanTopic) { return lastPlanIsRouted }
        return isRoutedLookingUp(topic)
    }

    /// Whether streams capture `topic` (from the cached plan): a NATS publish with a reply subject is then
    /// a JetStream publish, answered with a PubAck.
    package func isCapturedByStreams(_ topic: Topic) -> Bool {
        eventLoop.preconditionInEventLoop()
        return !plan(for: topic).streams.isEmpty
    }

    /// Whether a publish to `topic` is answered only once stored: streams capture it, or an acceptor (a
    /// ballot) takes it (from the cached plan). A frontend that acknowledges publishes (MQTT QoS 1/2, AMQP
    /// confirms, STOMP receipts) then takes
    /// `publish(_:placement:acknowledged:whenDeferred:)` and acknowledges when it answers.
    package func waitsForStorage(_ topic: Topic) -> Bool {
        eventLoop.preconditionInEventLoop()
        let plan = self.plan(for: topic)
        return !plan.streams.isEmpty || plan.acceptor != nil || waitsForSharedLog(plan)
    }

    /// Whether a subscriber (on any loop) would receive a publication to `topic`; logs and streams aside.
    package func hasSubscribers(_ topic: Topic) -> Bool {
        eventLoop.preconditionInEventLoop()
        return plan(for: topic).recipientCount > 0
    }

    @usableFromInline
    func isRoutedLookingUp(_ topic: Topic) -> Bool {
        let plan = self.plan(for: topic)
        return plan.recipientCount > 0 || plan.log != nil || !plan.streams.isEmpty || plan.acceptor != nil
            || engine != nil
    }

    /// Publishes as the topic's sequencer. A durable log's messages are reserved an offset and stored
    /// first: readers and subscribers see them only once committed (nil is returned; `completion` gets
    /// the result then), so no client ever sees a message a crash could take back.
    private func publishHere(
        _ message: BusMessage, plan: MatchPlan, completion: ((PublishResult) -> Void)?
    ) -> PublishResult? {
        guard let log = plan.log, Self.isStoredInLog(message) else { return route(message, plan: plan) }
        // Another instance's message of a durable log the instances share through the store: that instance
        // stored it, and this copy follows the store (`HistorySharing`); only delivered here, positioned.
        if log.durable, message.isStoredElsewhere(storeShared: bus.historySharing != nil) {
            return route(message, plan: plan)
        }
        if log.durable, bus.store != nil {
            // Reserved only here in the order of publishing: behind publications waiting for the writer
            // claim, or when this instance does not hold it (several instances share the store).
            guard awaitingWriter.isEmpty || awaitingWriter[ObjectIdentifier(log)] == nil,
                let reserved = log.reserve(message)
            else { return awaitWriter(message, log: log, completion: completion) }
            pendingDurable.append(PendingDurable(log: log, message: reserved, completion: completion))
            scheduleHandOff()
            return nil
        }
        // With an engine the positions are the shared log's (one check, on history topics only).
        if engine != nil, message.position != nil || log.isShared {
            return publishReplica(message, log: log, plan: plan, completion: completion)
        }
        guard let message = log.append(message, now: message.timestamp) else {
            // The log was evicted after this plan was made (the eviction made plans stale first): the
            // fresh plan has the topic's new log, or none — and the new log's owner may be another shard.
            let plan = self.plan(for: message.topic)
            if plan.log != nil, plan.owner != index {
                forwards[plan.owner].append(Forwarded(message: message, completion: completion))
                scheduleHandOff()
                return nil
            }
            return publishHere(message, plan: plan, completion: completion)
        }
        // A subscriber that registered and read the log before our append must see this message live:
        // re-check the generation *after* the append (see Bus.subscribe's recovery).
        if generation != cacheGeneration { return route(message, plan: self.plan(for: message.topic)) }
        return route(message, plan: plan)
    }

    /// Appends a message the shared log sequenced to this instance's window of it, then routes it; one it
    /// could not sequence (Redis unreachable) is routed only: it is not part of the shared log.
    private func publishReplica(
        _ message: BusMessage, log: HistoryLogBox, plan: MatchPlan, completion: ((PublishResult) -> Void)?
    ) -> PublishResult? {
        guard message.position != nil else { return route(message, plan: plan) }
        switch log.appendReplica(message, now: bus.clock()) {
        case .old:
            return PublishResult(position: message.position, recipients: 0)
        case .appended(let message):
            // As `publishHere`: a subscriber that read the log before this append sees it live.
            if generation != cacheGeneration { return route(message, plan: self.plan(for: message.topic)) }
            return route(message, plan: plan)
        case .evicted:
            let plan = self.plan(for: message.topic)
            if plan.log != nil, plan.owner != index {
                forwards[plan.owner].append(Forwarded(message: message, completion: completion))
                hasForOtherLoops = true
                scheduleHandOff()
                return nil
            }
            return publishHere(message, plan: plan, completion: completion)
        }
    }

    /// Hands a message to its subscribers. Those on this loop get a publication at once (written, not
    /// flushed: the hand-off at the end of this tick flushes each touched connection once); presence
    /// events keep to the batch, so a subscriber's own join never overtakes the reply to its subscribe.
    @inline(__always)
    func route(_ message: BusMessage, plan: MatchPlan) -> PublishResult {
        closeLocalRun()
        let recipients = plan.recipientCount
        if recipients == 0 { return PublishResult(position: message.position, recipients: 0) }
        let now = message.isPublication
        if plan.hasLocal {
            if now {
                deliverNow(message, plan.local)
            } else {
                outgoing[index].append(.many(message, plan.local))
            }
        }
        if plan.hasRemote {
            if plan.remote.count == 1 {
                appendToRun(message, plan: plan, position: 0)
            } else {
                for position in plan.remote.indices { appendToRun(message, plan: plan, position: position) }
            }
            hasForOtherLoops = true
        }
        if plan.hasGroups {
            for group in plan.groups {
                // With an engine, one instance of those with members of the group takes each message.
                if let engine, !engine.deliversToGroup(group.key, message) { continue }
                let member = group.next()
                if now && member.shardIndex == index {
                    var context = DeliveryContext(message: message)
                    if message.expiresAt > message.timestamp { deliver(member, message.offset, &context) }
                } else {
                    closeRun(member.shardIndex)
                    outgoing[member.shardIndex].append(.one(message, member))
                    if member.shardIndex != index { hasForOtherLoops = true }
                }
            }
        }
        scheduleHandOff()
        return PublishResult(position: message.position, recipients: recipients)
    }

    @inline(__always)
    private func deliverNow(_ message: BusMessage, _ subscriptions: [BusSubscription]) {
        if message.expiresAt <= message.timestamp { return }
        messagesSinceFlush &+= 1
        var context = DeliveryContext(message: message)
        let offset = message.offset
        subscriptions.withUnsafeBufferPointer { subscriptions in
            for subscription in subscriptions { deliver(subscription, offset, &context) }
        }
    }

    /// Whether a message goes into its topic's log: publications do; presence events and requests
    /// (they carry a reply topic: conversations, not history) do not.
    static func isStoredInLog(_ message: BusMessage) -> Bool {
        guard message.isPublication else { return false }
        return message.headers.replyTo == nil
    }

    func scheduleHandOff() {
        guard !flushScheduled else { return }
        flushScheduled = true
        eventLoop.execute { self.handOff() }
    }

    /// Publishes that other loops forwarded to this owner, in their order; results go back in one task
    /// (durable ones each when stored).
    private func receiveForwarded(_ batch: [Forwarded], from origin: LoopShard) {
        var results: [(completion: (PublishResult) -> Void, result: PublishResult)] = []
        for item in batch {
            var later: ((PublishResult) -> Void)?
            if let completion = item.completion {
                let handover = Handover(value: completion)
                later = { result in origin.eventLoop.execute { handover.value(result) } }
            }
            let result = publishHere(item.message, plan: plan(for: item.message.topic), completion: later)
            if let result, let completion = item.completion { results.append((completion, result)) }
        }
        guard !results.isEmpty else { return }
        let handover = Handover(value: results)
        origin.eventLoop.execute {
            for (completion, result) in handover.value { completion(result) }
        }
    }

    @inline(__always)
    func plan(for topic: Topic) -> MatchPlan {
        let generation = self.generation
        // A publisher repeating its topic mostly passes the very string it passed last time.
        if generation == cacheGeneration, let lastPlan, topic.isIdentical(to: lastPlanTopic) { return lastPlan }
        return lookUpPlan(for: topic, generation: generation)
    }

    private func lookUpPlan(for topic: Topic, generation: UInt64) -> MatchPlan {
        let family = TopicFamily(topic)
        if generation != cacheGeneration {
            cache.removeAll()
            familyCache.removeAll()
            lastPlan = nil
            cacheGeneration = generation
        } else if let lastPlan, topic == lastPlanTopic {
            return lastPlan
        } else if let plan = cache[topic] ?? family.flatMap({ familyCache[$0] }) {
            lastPlan = plan
            lastPlanTopic = topic
            return plan
        }
        let match = bus.registry.match(topic)
        var byShard: [[BusSubscription]] = Array(repeating: [], count: outgoing.count)
        for subscription in match.members { byShard[subscription.shardIndex].append(subscription) }
        let targets = byShard.enumerated().compactMap { shard, subscriptions in
            subscriptions.isEmpty ? nil : (shard: shard, subscriptions: subscriptions)
        }
        let groups = match.groups.map { GroupPlan(members: $0) }
        let log = bus.history.log(for: topic, create: true)
        // Plans without a log never forward, whatever their owner.
        let owner = log?.owner(claimingFor: index) ?? index
        let streams = bus.streams.matchingNamingLastLevel(topic)
        let acceptor = bus.acceptors.acceptor(for: topic)
        let plan = MatchPlan(
            shard: index, targets: targets, groups: groups, log: log, owner: owner, streams: streams.streams,
            acceptor: acceptor)
        // A log is the topic's own, so is the owner that sequences it: plans of topics that keep history
        // (or would, were the history not full) are never shared. Under an on-demand rule (the default
        // `#`) a family shares its plan while none of its topics has a log: one made later (a resuming
        // subscriber's) makes every cached plan stale first. Nor are plans shared that an acceptor's
        // filter could tell apart (`sessions/+/votes/+/cast` names its last level).
        if let family, log == nil, acceptor == nil, !match.namesLastLevel, !streams.namesLastLevel,
            bus.history.policy.limits(for: topic).map({ $0.onDemand && !bus.history.hasLogs(in: family) }) ?? true,
            !bus.history.policy.namesLastLevel(of: topic), !bus.acceptors.namesLastLevel(of: topic)
        {
            familyCache.insert(plan, for: family)
        } else {
            cache.insert(plan, for: topic)
        }
        lastPlan = plan
        lastPlanTopic = topic
        return plan
    }

    /// End of this loop's batch: hands each target loop its deliveries in one task.
    private func handOff() {
        flushScheduled = false
        closeLocalRun()
        if !pendingDurable.isEmpty { storeDurable() }
        if !pendingStreamAppends.isEmpty { storeStreamAppends() }
        dispatchToOtherLoops()
        if !outgoing[index].isEmpty {
            let batch = outgoing[index]
            outgoing[index] = []
            receive(batch)
        }
        flushTouched()
        if !barriers.isEmpty { sendBarriers() }
    }

    /// Hands each other loop what this loop has for it so far — forwarded publishes to the topics it owns
    /// and deliveries to its subscribers — in one task each. Runs at the hand-off and after every read a
    /// frontend handled (`flushWritten`): were the batches held until the hand-off, a subscriber on another
    /// loop would wait for the publisher's whole read burst (up to 16 reads, 1 MiB) and the two loops
    /// would take turns instead of working at once.
    func dispatchToOtherLoops() {
        guard hasForOtherLoops else { return }
        hasForOtherLoops = false
        for owner in forwards.indices where !forwards[owner].isEmpty {
            let batch = Handover(value: forwards[owner])
            forwards[owner] = []
            let shard = bus.shards[owner]
            shard.eventLoop.execute { shard.receiveForwarded(batch.value, from: self) }
        }
        for target in outgoing.indices where target != index {
            closeRun(target)
            guard !outgoing[target].isEmpty else { continue }
            let batch = outgoing[target]
            outgoing[target] = []
            let shard = bus.shards[target]
            var bytes = 0
            for delivery in batch { bytes &+= Self.payloadBytes(delivery) }
            chargeHandOver(bytes, to: shard, batch: batch)
            let handover = Handover(value: batch)
            shard.eventLoop.execute { shard.receive(handover.value, bytes: bytes, from: self) }
            dispatchedSinceBarrier |= target < 64 ? 1 << UInt64(target) : .max
        }
    }

    // MARK: - Delivering

    /// Adds a message for `plan.remote[position]` to that loop's open run, or opens one.
    @inline(__always)
    private func appendToRun(_ message: BusMessage, plan: MatchPlan, position: Int) {
        let target = plan.remote[position].shard
        // The open run holds its plan, so an equal identifier is that very plan. Compared by identifier,
        // not by reading the run: a copy of the run would share its messages array and make the append
        // below copy it.
        if openRunPlans[target] == ObjectIdentifier(plan) {
            openRuns[target]!.messages.append(message)
        } else {
            closeRun(target)
            openRuns[target] = OpenRun(
                plan: plan, subscriptions: plan.remote[position].subscriptions, messages: [message])
            openRunPlans[target] = ObjectIdentifier(plan)
        }
    }

    @inline(__always)
    func closeRun(_ target: Int) {
        if let packed = openPacked[target] {
            openPacked[target] = nil
            openPackedReferences[target] = nil
            outgoing[target].append(.packed(packed))
            return
        }
        guard openRunPlans[target] != nil, let run = openRuns[target] else { return }
        openRuns[target] = nil
        openRunPlans[target] = nil
        outgoing[target].append(.run(run.subscriptions, run.messages))
    }

    /// Delivers a batch to subscribers on this loop, then flushes every touched connection once. A large
    /// batch from another loop goes back there to be freed: its messages share their topics', publishers'
    /// and payloads' storage with the messages that loop is making meanwhile, and releasing them here
    /// would move those reference counts' cache lines between the cores once per message.
    func receive(_ batch: [Delivery], bytes: Int, from origin: LoopShard) {
        receive(batch)
        creditHandOver(bytes)
        var messages = 0
        for delivery in batch {
            switch delivery {
            case .run(_, let run): messages += run.count
            // Made here, of a buffer of their own: nothing shared with the origin's messages.
            case .packed: break
            case .many, .one: messages += 1
            }
        }
        if messages >= Self.returnedBatchSize {
            let handover = Handover(value: batch)
            origin.eventLoop.execute { withExtendedLifetime(handover) {} }
        }
    }

    /// From this many messages a batch goes back to be freed; a smaller one (a latency-bound exchange) is
    /// freed here rather than cost its origin a wake-up.
    static let returnedBatchSize = 32

    /// Delivers a batch to subscribers on this loop, then flushes every touched connection once.
    func receive(_ batch: [Delivery]) {
        // What this loop's publishers wrote before goes first, as it would had it been written at once.
        closeLocalRun()
        batchMark &+= 1
        let now = bus.clock()
        batch.withUnsafeBufferPointer { batch in
            for index in batch.indices {
                // Per message, not per subscriber: expiry, the offset, the latency sample.
                switch batch[index] {
                case .many(let message, let subscriptions):
                    if message.expiresAt <= now { continue }
                    messagesSinceFlush &+= 1
                    var context = DeliveryContext(message: message)
                    let offset = message.offset
                    stats.recordLatency(now: now, publishedAt: message.timestamp)
                    subscriptions.withUnsafeBufferPointer { subscriptions in
                        for subscription in subscriptions { deliver(subscription, offset, &context) }
                    }
                case .one(let message, let subscription):
                    if message.expiresAt <= now { continue }
                    messagesSinceFlush &+= 1
                    var context = DeliveryContext(message: message)
                    stats.recordLatency(now: now, publishedAt: message.timestamp)
                    deliver(subscription, message.offset, &context)
                case .run(let subscriptions, let messages):
                    subscriptions.withUnsafeBufferPointer { subscriptions in
                        messages.withUnsafeBufferPointer { messages in
                            messagesSinceFlush &+= messages.count
                            for message in messages {
                                if message.expiresAt <= now { continue }
                                var context = DeliveryContext(message: message)
                                stats.recordLatency(now: now, publishedAt: message.timestamp)
                                for subscription in subscriptions { deliver(subscription, message.offset, &context) }
                            }
                        }
                    }
                case .packed(let packed):
                    receive(packed, now: now)
                }
            }
        }
        flushTouched()
    }

    @inline(__always)
    func deliver(_ subscription: BusSubscription, _ offset: UInt64, _ context: inout DeliveryContext) {
        guard subscription.isActive else { return }
        if offset != 0 && offset <= subscription.skipThroughOffset { return }
        if subscription.options.noLocal, context.message.publisherID == subscription.subscriberID { return }
        if let acl = subscription.options.readACL, !acl.permitsReading(context.message.topic) { return }
        if let sessions = subscription.options.sessions, !context.mayRead(sessions) { return }
        if let viewer = subscription.options.viewer, !context.mayView(viewer, bus.records) { return }
        if let filter = subscription.options.contentFilter,
            !context.matches(filter, viewer: subscription.options.viewer, now: bus.clock())
        {
            return
        }
        let subscriber = subscription.subscriber
        delivered(subscriber.deliver(context.message, for: subscription, context: &context), subscriber, subscription)
    }

    /// Counts a delivery, and queues its connection for this batch's flush.
    @inline(__always)
    func delivered(_ outcome: DeliveryOutcome, _ subscriber: any BusSubscriber, _ subscription: BusSubscription) {
        switch outcome {
        case .delivered(let bytes):
            stats.delivered(slot: subscription.metricsSlot, bytes: bytes)
            // Once per batch, and not while it waits in `unflushed` (its turn there flushes this write too).
            let mark = subscriber.deliveryMark
            if mark != batchMark && mark != Self.unflushedMark {
                subscriber.deliveryMark = batchMark
                touched.append(subscriber)
            }
        case .dropped:
            stats.dropped(slot: subscription.metricsSlot)
        case .skipped:
            break
        }
    }
}

/// What a publish did.
package struct PublishResult: Sendable {
    package var position: LogPosition?
    package var recipients: Int
    /// Why a publication to a durable log was not accepted (the store failed): nothing was delivered.
    package var failure: String?

    package init(position: LogPosition?, recipients: Int, failure: String? = nil) {
        self.position = position
        self.recipients = recipients
        self.failure = failure
    }
}
