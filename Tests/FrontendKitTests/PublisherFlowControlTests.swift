import NIOConcurrencyHelpers
import Testing

@testable import FrontendKit

/// Publisher flow control: a subscriber that falls behind pauses each publisher feeding it once, and lets
/// them all go when it catches up; a publisher reads again when its last pauser lets go, or after its
/// longest pause.
@Suite struct PublisherFlowControlTests {
    final class Publisher: ConnectionController {
        let pauses = NIOLockedValueBox<[(Bool, String)]>([])
        func requestClose(_ reason: CloseReason) {}
        func publishingPaused(_ paused: Bool, by subscriberID: String) {
            pauses.withLockedValue { $0.append((paused, subscriberID)) }
        }
        var said: [String] { pauses.withLockedValue { $0 }.map { "\($0.0) \($0.1)" } }
    }

    @Test func aSubscriberBehindPausesEachPublisherOnceAndReleasesThemAll() {
        let registry = ConnectionRegistry(maxConnections: 10)
        let (a, b) = (Publisher(), Publisher())
        #expect(
            registry.register(
                ConnectionInfo(id: "a", protocolName: "t", remoteAddress: nil, connectedAt: 0), controller: a))
        #expect(
            registry.register(
                ConnectionInfo(id: "b", protocolName: "t", remoteAddress: nil, connectedAt: 0), controller: b))
        let bounds = CongestedSubscriber.Bounds(deadline: 1_000, slack: 100)
        var behind = CongestedSubscriber()
        #expect(!behind.isBehind)
        let start: UInt64 = 100
        func admit(_ bytes: Int, _ from: String, _ now: UInt64) -> CongestedSubscriber.Admission {
            behind.admit(
                bytes: bytes, publishedAt: now + 1, from: from, to: "s", now: now, bounds: bounds, registry: registry)
        }
        #expect(admit(10, "a", start) == .write)
        #expect(admit(10, "a", 150) == .write)
        #expect(admit(5, "b", 160) == .write)
        #expect(admit(5, "s", 170) == .write)  // its own: never paused
        #expect(admit(5, "gone", 170) == .write)  // no such connection
        let since = behind.since
        #expect(behind.isBehind && since == start && behind.bytesWhileBehind == 35)
        #expect(
            !behind.isPastDeadline(now: 1_100, deadline: 1_000) && behind.isPastDeadline(now: 1_101, deadline: 1_000))
        #expect(a.said == ["true s"])
        #expect(b.said == ["true s"])
        behind.caughtUp("s", registry: registry)
        #expect(!behind.isBehind && behind.bytesWhileBehind == 0)
        #expect(a.said == ["true s", "false s"])
        #expect(b.said == ["true s", "false s"])
    }

    @Test func pastTheSlackOrTheDeadlineASubscriberIsRefusedAndGivingUpReleasesItsPublishers() {
        let registry = ConnectionRegistry(maxConnections: 10)
        let a = Publisher()
        #expect(
            registry.register(
                ConnectionInfo(id: "a", protocolName: "t", remoteAddress: nil, connectedAt: 0), controller: a))
        let bounds = CongestedSubscriber.Bounds(deadline: 1_000, slack: 100)
        var behind = CongestedSubscriber()
        #expect(
            behind.admit(bytes: 60, publishedAt: 0 + 1, from: "a", to: "s", now: 0, bounds: bounds, registry: registry)
                == .write)
        #expect(
            behind.admit(bytes: 40, publishedAt: 1 + 1, from: "a", to: "s", now: 1, bounds: bounds, registry: registry)
                == .write)
        // Published before the subscriber fell behind (already routed, in the hand-over): not counted.
        #expect(
            behind.admit(bytes: 500, publishedAt: 0, from: "a", to: "s", now: 2, bounds: bounds, registry: registry)
                == .write)
        // One byte past the slack: the policy applies; nothing was counted for it.
        #expect(
            behind.admit(bytes: 1, publishedAt: 2 + 1, from: "a", to: "s", now: 2, bounds: bounds, registry: registry)
                == .refuse)
        #expect(behind.bytesWhileBehind == 100 && a.said == ["true s"])
        // The policy keeps the subscriber (MQTT drops): its publisher goes on, and it is refused until it drains.
        behind.giveUp("s", registry: registry)
        #expect(a.said == ["true s", "false s"] && behind.isGivenUp && behind.isBehind)
        #expect(
            behind.admit(bytes: 1, publishedAt: 3 + 1, from: "a", to: "s", now: 3, bounds: bounds, registry: registry)
                == .refuse)
        #expect(a.said == ["true s", "false s"])
        behind.caughtUp("s", registry: registry)
        #expect(!behind.isBehind && !behind.isGivenUp)
        // A new episode: within the slack, but past the deadline.
        #expect(
            behind.admit(bytes: 1, publishedAt: 10 + 1, from: "a", to: "s", now: 10, bounds: bounds, registry: registry)
                == .write)
        #expect(
            behind.admit(
                bytes: 1, publishedAt: 1_010 + 1, from: "a", to: "s", now: 1_010, bounds: bounds, registry: registry)
                == .write)
        #expect(
            behind.admit(
                bytes: 1, publishedAt: 1_011 + 1, from: "a", to: "s", now: 1_011, bounds: bounds, registry: registry)
                == .refuse)
        #expect(a.said == ["true s", "false s", "true s"])
    }

    @Test func aSubscriberSeenReadingIsGivenTheDeadlineAgain() {
        let registry = ConnectionRegistry(maxConnections: 10)
        let bounds = CongestedSubscriber.Bounds(deadline: 1_000, slack: 100)
        var behind = CongestedSubscriber()
        behind.observe(buffered: 50, now: 0)  // keeping up: nothing to watch
        #expect(behind.since == nil)
        #expect(
            behind.admit(bytes: 1, publishedAt: 0 + 1, from: nil, to: "s", now: 0, bounds: bounds, registry: registry)
                == .write)
        behind.observe(buffered: 500, now: 400)  // the first look
        behind.observe(buffered: 500, now: 800)  // not reading
        #expect(behind.since == 0)
        behind.observe(buffered: 300, now: 900)  // reading, slowly
        #expect(behind.since == 900 && !behind.isPastDeadline(now: 1_500, deadline: bounds.deadline))
        behind.observe(buffered: 300, now: 1_200)
        #expect(
            behind.admit(
                bytes: 1, publishedAt: 1_901 + 1, from: nil, to: "s", now: 1_901, bounds: bounds, registry: registry)
                == .refuse)
    }

    /// The kernel's view counts too: a socket whose outbound buffer stays put (the kernel's send queue not yet
    /// a third free) while its peer acknowledges more is a client reading, slowly.
    @Test func bytesThePeerAcknowledgedAreProgressToo() {
        let registry = ConnectionRegistry(maxConnections: 10)
        let bounds = CongestedSubscriber.Bounds(deadline: 1_000, slack: 100)
        var behind = CongestedSubscriber()
        _ = behind.admit(bytes: 1, publishedAt: 1, from: nil, to: "s", now: 0, bounds: bounds, registry: registry)
        behind.observe(buffered: 500, acked: 10_000, now: 400)  // the first look
        behind.observe(buffered: 500, acked: 10_000, now: 800)  // neither moved
        #expect(behind.since == 0)
        behind.observe(buffered: 500, acked: 12_000, now: 900)  // the peer took 2,000 more
        #expect(behind.since == 900)
        behind.observe(buffered: 500, acked: nil, now: 1_000)  // not known this time: no progress
        behind.observe(buffered: 500, acked: 12_500, now: 1_100)  // nothing to compare with
        #expect(behind.since == 900 && behind.isPastDeadline(now: 1_901, deadline: bounds.deadline))
    }

    @Test func theSoftLimitIsThreeQuartersOfTheOutboundLimitAndTheSlackCoversAPausedPublishersReads() {
        let nats = CongestedSubscriber.Bounds(outboundLimit: 64 << 20, deadlineMilliseconds: 10_000)
        #expect(CongestedSubscriber.Bounds.softLimit(outboundLimit: 64 << 20) == 48 << 20)
        #expect(nats.slack == 16 << 20 && nats.deadline == 10_000_000_000)
        // A small limit: the slack is never under what a publisher reads before its pause lands.
        let small = CongestedSubscriber.Bounds(outboundLimit: 1 << 20, deadlineMilliseconds: 1)
        #expect(CongestedSubscriber.Bounds.softLimit(outboundLimit: 1 << 20) == 768 << 10)
        #expect(small.slack == CongestedSubscriber.Bounds.minimumSlack && small.deadline == 1_000_000)
    }

    @Test func aPublisherReadsAgainWhenTheLastPauserLetsGoOrAfterTheLongestPause() {
        var publisher = PausedPublisher()
        #expect(publisher.apply(true, by: "s1", now: 0) == true)  // stop reading
        #expect(publisher.apply(true, by: "s2", now: 5) == nil)
        #expect(publisher.apply(false, by: "s1", now: 6) == nil)  // s2 still behind
        #expect(publisher.apply(false, by: "s2", now: 7) == false)  // read again
        #expect(publisher.apply(false, by: "s2", now: 8) == nil)
        #expect(publisher.apply(true, by: "s3", now: 10) == true)
        let early = publisher.expire(now: 20, maxPause: 10)
        let late = publisher.expire(now: 21, maxPause: 10)
        #expect(!early && late && !publisher.isPaused)
    }

    @Test func aPublisherIDThatIsNotTheConnectionIDFindsItsConnection() {
        let registry = ConnectionRegistry(maxConnections: 10)
        let (first, second) = (Publisher(), Publisher())
        #expect(
            registry.register(
                ConnectionInfo(id: "c1", protocolName: "mqtt", remoteAddress: nil, connectedAt: 0), controller: first))
        registry.setPublisherID("device-7", for: "c1")
        #expect(registry.controller("device-7") === first)
        // The client reconnects (a takeover): the new connection claims the id; the old one's end keeps it.
        #expect(
            registry.register(
                ConnectionInfo(id: "c2", protocolName: "mqtt", remoteAddress: nil, connectedAt: 0), controller: second))
        registry.setPublisherID("device-7", for: "c2")
        registry.remove("c1")
        #expect(registry.controller("device-7") === second)
        registry.remove("c2")
        #expect(registry.controller("device-7") == nil)
    }
}
