package import NIOCore

/// Publisher flow control, one subscriber's side (nats-server stalls a fast producer while a consumer it
/// feeds is behind, instead of cutting the consumer off at once). While the subscriber's outbound buffer is
/// over its soft limit (the channel's high water mark, 3/4 of the protocol's outbound limit), every
/// connection whose messages it is still given is asked to stop reading
/// (`ConnectionController.publishingPaused`), once per episode; when the buffer drains, or the subscriber
/// is cut off or goes, they are told to go on. A subscriber that stays behind past its deadline, or is given
/// more than `Bounds.slack` while behind (what publishers read before their pause lands), gets the
/// protocol's slow-consumer policy after all — closed (NATS) or given up on (MQTT: its QoS 0 messages are
/// dropped, its publishers released, until it drains) — so memory stays bounded by the outbound limit and a
/// client that never reads cannot hold publishers for longer than the deadline. The deadline counts from
/// the last time the client was seen reading (`observe`), so one that reads slowly is never cut for it.
///
/// The subscriber's side costs nothing while it keeps up: it is asked only when the buffer is already over
/// the soft limit, a check the delivery path made before flow control existed.
/// A value owned by the subscriber's connection handler, confined to its loop.
package struct CongestedSubscriber {
    /// The limits of one protocol's subscribers.
    package struct Bounds: Sendable {
        /// The longest a subscriber may stay behind (ns).
        package var deadline: UInt64
        /// The most it may be given while behind (bytes), on top of the soft limit.
        package var slack: Int

        package init(deadline: UInt64, slack: Int) {
            self.deadline = deadline
            self.slack = slack
        }

        /// For an outbound limit of `limit` bytes: the soft limit (the channel's high water mark) is 3/4 of
        /// it, as nats-server's stall gate opens at 3/4 of `max_pending`, and the slack the rest — but at
        /// least `minimumSlack`, so the reads a publisher makes before its pause lands never cut off a
        /// subscriber that keeps up on average.
        package init(outboundLimit limit: Int, deadlineMilliseconds: Int) {
            self.deadline = UInt64(max(1, deadlineMilliseconds)) * 1_000_000
            self.slack = max(limit - Self.softLimit(outboundLimit: limit), Self.minimumSlack)
        }

        /// Where a subscriber falls behind for an outbound limit of `limit` bytes.
        package static func softLimit(outboundLimit limit: Int) -> Int { max(1, limit / 4 * 3) }

        /// What a paused publisher may still bring (bytes): its loop reads up to 16 × 64 KiB per readiness
        /// event (`maxMessagesPerRead`) and routes what it read before the pause (an `execute` onto that
        /// loop) runs, and the deliveries it handed to the subscriber's loop meanwhile arrive after the
        /// subscriber asked — with the publisher resuming at full speed after a long pause (its socket's
        /// receive buffer full), 1 MiB was measured to cut a reader at a tenth of the rate again and again.
        package static let minimumSlack = 4 << 20

        /// nats-server's `write_deadline` (10 s), the default deadline of every protocol.
        package static let defaultDeadlineMilliseconds = 10_000
    }

    /// What a subscriber over its soft limit does with a message.
    package enum Admission: Equatable {
        /// Write it: the subscriber is behind, its publishers are paused.
        case write
        /// The slow-consumer policy: past the deadline or the slack, or given up on.
        case refuse
    }

    /// When the subscriber fell behind (bus clock, ns); nil while it keeps up.
    package private(set) var since: UInt64?
    /// Bytes given to it since it fell behind.
    package private(set) var bytesWhileBehind = 0
    /// Given up on: behind past its bounds and the policy keeps it (drops); its publishers go on.
    package private(set) var isGivenUp = false
    private var pausedPublishers: Set<String> = []
    /// What its socket still held at the last keep-alive tick (`observe`); nil until looked at.
    private var lastBuffered: Int?
    /// The bytes its peer had acknowledged at the last tick (`bytesAcked`); nil until looked at.
    private var lastAcked: UInt64?

    package init() {}

    package var isBehind: Bool { since != nil || isGivenUp }

    /// Whether the subscriber, behind since `since`, is past `deadline` (ns).
    package func isPastDeadline(now: UInt64, deadline: UInt64) -> Bool {
        guard let since else { return false }
        return now &- since > deadline
    }

    /// A message of `bytes` from `publisherID`, published at `publishedAt` (bus clock), for the subscriber
    /// `subscriberID`, whose outbound buffer is over its soft limit. Within its bounds the message is written
    /// and its publisher asked to pause, once per episode (a subscriber's own publishes never pause it); past
    /// them, it is refused. Only what was published after the subscriber fell behind counts against the
    /// slack: what was published before was already routed, held by the server in the hand-over to this
    /// loop whether it is written or not, and no pause could have stopped it.
    package mutating func admit(
        bytes: Int, publishedAt: UInt64, from publisherID: String?, to subscriberID: String, now: UInt64,
        bounds: Bounds, registry: ConnectionRegistry
    ) -> Admission {
        guard !isGivenUp else { return .refuse }
        if since == nil { since = now }
        guard !isPastDeadline(now: now, deadline: bounds.deadline) else { return .refuse }
        if publishedAt > since.unsafelyUnwrapped {
            guard bytesWhileBehind + bytes <= bounds.slack else { return .refuse }
            bytesWhileBehind += bytes
        }
        if let publisherID, publisherID != subscriberID, pausedPublishers.insert(publisherID).inserted {
            registry.controller(publisherID)?.publishingPaused(true, by: subscriberID)
        }
        return .write
    }

    /// At a keep-alive tick, while behind: `buffered` bytes wait in the subscriber's socket, and its peer has
    /// acknowledged `acked` bytes so far (nil: not known). Fewer buffered, or more acknowledged, than at the
    /// last look means the client is reading, only slowly — the deadline counts again from now, as
    /// nats-server's write deadline is for a write that makes no progress. A client reading at a tenth of the
    /// publish rate drains a full socket (its high water mark, the slack and the kernel's buffer) slower
    /// than 10 s, and is no slow consumer.
    package mutating func observe(buffered: Int, acked: UInt64? = nil, now: UInt64) {
        guard since != nil else { return }
        if let lastBuffered, buffered < lastBuffered { since = now }
        if let acked, let lastAcked, acked > lastAcked { since = now }
        lastBuffered = buffered
        lastAcked = acked
    }

    /// `observe` for `channel`'s outbound buffer, plus `unflushed` bytes of the handler's own, and what its
    /// peer acknowledged. Call on its loop.
    package mutating func observe(_ channel: (any Channel)?, unflushed: Int = 0, now: UInt64) {
        guard since != nil, let channel, let buffered = try? channel.syncOptions?.getOption(.bufferedWritableBytes)
        else { return }
        observe(buffered: buffered + unflushed, acked: Self.bytesAcked(channel), now: now)
    }

    /// The policy keeps the subscriber but stops holding its publishers (MQTT drops QoS 0 to it): every
    /// paused publisher goes on, and what comes next is refused until the subscriber drains.
    package mutating func giveUp(_ subscriberID: String, registry: ConnectionRegistry) {
        release(subscriberID, registry: registry)
        isGivenUp = true
    }

    /// The subscriber caught up, was cut off or went away: every paused publisher goes on.
    package mutating func caughtUp(_ subscriberID: String, registry: ConnectionRegistry) {
        release(subscriberID, registry: registry)
        isGivenUp = false
    }

    private mutating func release(_ subscriberID: String, registry: ConnectionRegistry) {
        since = nil
        bytesWhileBehind = 0
        lastBuffered = nil
        lastAcked = nil
        guard !pausedPublishers.isEmpty else { return }
        for publisher in pausedPublishers {
            registry.controller(publisher)?.publishingPaused(false, by: subscriberID)
        }
        pausedPublishers.removeAll()
    }
}

/// Publisher flow control, one publisher's side: the subscribers that asked it to pause. It reads nothing
/// while any of them is behind, and at most for `maxPause` (a subscriber that vanished without a word
/// cannot stop it for good).
package struct PausedPublisher {
    private var pausedBy: Set<String> = []
    private var pausedAt: UInt64 = 0

    /// The longest a publisher stays paused when nothing tells it to go on (ns): past any subscriber's
    /// write deadline, so only a lost resume ever reaches it.
    package static let longestPause: UInt64 = 60_000_000_000

    package init() {}

    package var isPaused: Bool { !pausedBy.isEmpty }

    /// Applies a pause or resume from `subscriberID`; returns whether reading should now stop (true),
    /// start again (false), or nothing changed (nil).
    package mutating func apply(_ paused: Bool, by subscriberID: String, now: UInt64) -> Bool? {
        if paused {
            guard pausedBy.insert(subscriberID).inserted, pausedBy.count == 1 else { return nil }
            pausedAt = now
            return true
        }
        guard pausedBy.remove(subscriberID) != nil, pausedBy.isEmpty else { return nil }
        return false
    }

    /// Ends a pause that lasted longer than `maxPause` (ns): true when reading should start again.
    package mutating func expire(now: UInt64, maxPause: UInt64 = PausedPublisher.longestPause) -> Bool {
        guard !pausedBy.isEmpty, now &- pausedAt > maxPause else { return false }
        pausedBy.removeAll()
        return true
    }
}
