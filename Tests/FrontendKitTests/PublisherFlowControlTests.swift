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
        var behind = CongestedSubscriber()
        #expect(!behind.isBehind)
        let start: UInt64 = 100
        behind.gave(bytes: 10, from: "a", to: "s", now: start, registry: registry)
        behind.gave(bytes: 10, from: "a", to: "s", now: 150, registry: registry)
        behind.gave(bytes: 5, from: "b", to: "s", now: 160, registry: registry)
        behind.gave(bytes: 5, from: "s", to: "s", now: 170, registry: registry)  // its own: never paused
        behind.gave(bytes: 5, from: "gone", to: "s", now: 170, registry: registry)  // no such connection
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
