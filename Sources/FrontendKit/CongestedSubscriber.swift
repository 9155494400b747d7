/// Publisher flow control, one subscriber's side (nats-server stalls a fast producer while a consumer it
/// feeds is behind, instead of cutting the consumer off at once). While the subscriber's outbound buffer is
/// over its limit, every connection whose messages it is still given is asked to stop reading
/// (`ConnectionController.publishingPaused`), once per episode; when the buffer drains, or the subscriber
/// is cut off or goes, they are told to go on. A subscriber that stays behind past the write deadline, or
/// takes more than its limit again while behind, is a slow consumer after all: memory stays bounded and a
/// client that never reads cannot hold publishers for longer than the deadline.
///
/// A value owned by the subscriber's connection handler, confined to its loop.
package struct CongestedSubscriber {
    /// When the subscriber fell behind (bus clock, ns); nil while it keeps up.
    package private(set) var since: UInt64?
    /// Bytes given to it since it fell behind.
    package private(set) var bytesWhileBehind = 0
    private var pausedPublishers: Set<String> = []

    package init() {}

    package var isBehind: Bool { since != nil }

    /// Whether the subscriber, behind since `since`, is past `deadline` (ns).
    package func isPastDeadline(now: UInt64, deadline: UInt64) -> Bool {
        guard let since else { return false }
        return now &- since > deadline
    }

    /// A message of `bytes` from `publisherID` given to the subscriber `subscriberID` while behind: its
    /// publisher is asked to pause, once. A subscriber's own publishes never pause it.
    package mutating func gave(
        bytes: Int, from publisherID: String?, to subscriberID: String, now: UInt64, registry: ConnectionRegistry
    ) {
        if since == nil { since = now }
        bytesWhileBehind += bytes
        guard let publisherID, publisherID != subscriberID, pausedPublishers.insert(publisherID).inserted else {
            return
        }
        registry.controller(publisherID)?.publishingPaused(true, by: subscriberID)
    }

    /// The subscriber caught up, was cut off or went away: every paused publisher goes on.
    package mutating func caughtUp(_ subscriberID: String, registry: ConnectionRegistry) {
        since = nil
        bytesWhileBehind = 0
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
