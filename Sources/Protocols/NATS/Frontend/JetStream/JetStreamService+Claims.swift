import BusCore
import BusRuntime
import NIOConcurrencyHelpers
import NIOCore

/// Whether this instance serves a durable consumer when several instances share the store
/// (PostgreSQL with `shared_instances=true`, docs/storage.md "JetStream durable consumers are served by
/// one instance at a time").
enum JetStreamConsumerClaim {
    /// Another instance may serve it; the next pull (or push round with a subscriber) claims it.
    case notHeld
    /// A claim is under way; these run with its outcome.
    case claiming([@Sendable (Bool) -> Void])
    /// Served here until it is deleted or the ownership connection is lost.
    case held
}

extension JetStreamService {
    // MARK: - Durable consumers among instances sharing the store

    /// The kind of claim a durable consumer is served under (the claim's name is the stream, U+0000, and
    /// the consumer's name; the lock space is the one MQTT sessions, AMQP queues and Kafka groups use).
    static let claimKind = "js-consumer"
    /// How long a pull waits for a consumer another instance serves. That instance lets go only when the
    /// consumer is deleted there or it dies, never on request: a short wait.
    static let claimTimeout = TimeAmount.milliseconds(500)
    /// How often a push consumer with a subscriber here tries again to claim a consumer served elsewhere.
    static let pushClaimRetry = TimeAmount.seconds(1)
    /// The status a pull request gets while another instance serves its consumer: nats-server's
    /// `409 Leadership Change`, what a pull gets when its consumer's leader moved to another server —
    /// here the consumer is served by another instance, and the client may pull again (nats.py and
    /// nats.go treat a 409 as temporary).
    static let servedElsewhereStatus = "Leadership Change"

    static func claimName(of consumer: JetStreamConsumer) -> String {
        consumer.stream + "\u{0}" + consumer.name
    }

    /// The stream consumer group under which a durable consumer's ack floor is committed
    /// (`stream_consumer_offset`, offset = floor + 1) when instances share the store, so the next
    /// instance to serve it reads where this one left it. The creation time in the name keeps a consumer
    /// deleted and made again under the same name from taking the old one's floor. U+0001 separates the
    /// parts (PostgreSQL text holds no U+0000); a Kafka REST group would have to spell exactly this name,
    /// control characters included, to share its offsets.
    static func floorGroup(of consumer: JetStreamConsumer) -> String {
        "\u{1}js-consumer\u{1}\(consumer.name)\u{1}\(consumer.created)"
    }

    /// Listens for claims lost with the ownership connection (call once, at start).
    func watchClaims() {
        bus.instanceClaims?.onLost(Self.claimKind) { [self] name in
            let parts = name.split(separator: "\u{0}", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let consumer = consumer(stream: String(parts[0]), name: String(parts[1])) else {
                return
            }
            consumer.claim.withLockedValue { claim in
                if case .held = claim { claim = .notHeld }
            }
        }
    }

    /// Whether this instance may deliver `consumer`'s messages now: always, unless instances share the
    /// store and it is a durable consumer this instance does not hold.
    func isServedHere(_ consumer: JetStreamConsumer) -> Bool {
        guard bus.instanceClaims != nil, consumer.config.durableName != nil else { return true }
        return consumer.claim.withLockedValue { claim in
            if case .held = claim { return true }
            return false
        }
    }

    /// Runs `body` on `loop` with whether this instance serves `consumer`, claiming it first when
    /// instances share the store and it is not held here (at once, inline, when nothing is to be claimed).
    /// A claim that gets the consumer reads its ack floor fresh from the store before `body` runs.
    func whenServedHere(
        _ consumer: JetStreamConsumer, on loop: any EventLoop, timeout: TimeAmount = JetStreamService.claimTimeout,
        _ body: @escaping @Sendable (Bool) -> Void
    ) {
        guard let claims = bus.instanceClaims, consumer.config.durableName != nil else { return body(true) }
        let resume: @Sendable (Bool) -> Void = { served in loop.execute { body(served) } }
        enum Next {
            case run
            case wait
            case claim
        }
        let next = consumer.claim.withLockedValue { claim -> Next in
            switch claim {
            case .held: return .run
            case .claiming(let waiting):
                claim = .claiming(waiting + [resume])
                return .wait
            case .notHeld:
                claim = .claiming([resume])
                return .claim
            }
        }
        switch next {
        case .run: return body(true)
        case .wait: return
        case .claim: break
        }
        let name = Self.claimName(of: consumer)
        claims.claim(Self.claimKind, name, timeout: timeout) { [self] held in
            guard held else { return finishClaim(consumer, held: false) }
            claims.refreshCommittedOffsets(group: Self.floorGroup(of: consumer), in: bus.streams) { [self] read in
                // Deleted meanwhile (its deletion let go of nothing, as it was not held yet), or the floor
                // could not be read: not served here.
                guard case .success(let offsets) = read,
                    self.consumer(stream: consumer.stream, name: consumer.name) === consumer
                else {
                    claims.release(Self.claimKind, name)
                    return finishClaim(consumer, held: false)
                }
                if let stored = offsets.first(where: { $0.stream == consumer.stream && $0.partition == 0 }) {
                    takeOver(consumer, ackFloor: stored.offset > 0 ? stored.offset - 1 : 0)
                }
                finishClaim(consumer, held: true)
            }
        }
    }

    private func finishClaim(_ consumer: JetStreamConsumer, held: Bool) {
        let waiting = consumer.claim.withLockedValue { claim -> [@Sendable (Bool) -> Void] in
            defer { claim = held ? .held : .notHeld }
            if case .claiming(let waiting) = claim { return waiting }
            return []
        }
        for resume in waiting { resume(held) }
    }

    /// The consumer as the store says another instance left it: it resumes after the stored ack floor,
    /// so what was delivered there and not acknowledged comes again (at least once) and nothing
    /// acknowledged there does. Kept as it is when the floor is the one here and nothing is outstanding
    /// (its first claim: nothing moved elsewhere).
    private func takeOver(_ consumer: JetStreamConsumer, ackFloor: UInt64) {
        let now = bus.clock()
        let replayThrough = bus.streams.stream(named: consumer.stream)?.partitions.first?.info.lastOffset ?? 0
        consumer.withState { state in
            guard state.ackFloorStreamSequence != ackFloor || state.deliveredStreamSequence != ackFloor else {
                return
            }
            var fresh = JetStreamConsumerState(config: state.config, filters: state.filters, cursor: ackFloor + 1)
            fresh.lastActive = now
            if state.config.replayPolicy == "original" { fresh.replayThrough = replayThrough }
            state = fresh
        }
    }

    /// A durable consumer deleted here: its claim (if held) goes, so another instance may serve one of that
    /// name.
    func releaseClaim(of consumer: JetStreamConsumer) {
        guard let claims = bus.instanceClaims else { return }
        let wasHeld = consumer.claim.withLockedValue { claim -> Bool in
            guard case .held = claim else { return false }
            claim = .notHeld
            return true
        }
        if wasHeld { claims.release(Self.claimKind, Self.claimName(of: consumer)) }
    }

    /// Commits a durable consumer's ack floor where the next instance to serve it reads it
    /// (`floorGroup(of:)`); nothing when this instance is the store's only user.
    func commitFloor(of consumer: JetStreamConsumer) {
        guard bus.instanceClaims != nil, isServedHere(consumer) else { return }
        let floor = consumer.withState { $0.ackFloorStreamSequence }
        bus.streams.commit(
            group: Self.floorGroup(of: consumer), stream: consumer.stream, partition: 0, offset: floor + 1
        ) { _ in }
    }
}
