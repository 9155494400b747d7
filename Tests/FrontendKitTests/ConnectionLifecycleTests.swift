import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

/// The connection lifecycle every protocol's handler shares: admission and counters, the shared sweeper,
/// credential expiry, and one idempotent end that unsubscribes (leaving presence) and deregisters.
@Suite struct ConnectionLifecycleTests {
    final class Connection: KeepAliveParticipant, ConnectionController, BusSubscriber, @unchecked Sendable {
        var keepAliveSlot = -1
        var ticks = 0
        let eventLoop: any EventLoop
        let metricsSlot: ProtocolMetricsSlot
        var deliveryMark: UInt64 = 0
        var closeRequests: [CloseReason] = []

        init(loop: any EventLoop, slot: ProtocolMetricsSlot) {
            self.eventLoop = loop
            self.metricsSlot = slot
        }

        func keepAliveTick(now: NIODeadline) { ticks += 1 }
        func requestClose(_ reason: CloseReason) { closeRequests.append(reason) }
        func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
            -> DeliveryOutcome
        { .delivered(bytes: 0) }
        func flushDeliveries() {}
    }

    let harness: EmbeddedBusHarness
    let keepAlive: KeepAliveSweepers
    let slot: ProtocolMetricsSlot

    init() {
        harness = EmbeddedBusHarness(
            configuration: BusConfiguration(presence: PresencePolicy(filters: [try! TopicFilter("room/#")])),
            maxConnections: 1)
        keepAlive = KeepAliveSweepers(eventLoops: [harness.loop])
        slot = harness.bus.metrics.slot(for: "test")
    }

    func lifecycle(_ id: String) -> ConnectionLifecycle {
        ConnectionLifecycle(
            protocolName: "test", id: id, connections: harness.connections,
            counters: harness.bus.metrics.counters(slot), keepAlive: keepAlive)
    }

    @Test func admitRegistersUntilTheLimitAndEndDeregistersOnce() throws {
        var first = lifecycle("a")
        let connection = Connection(loop: harness.loop, slot: slot)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 4000)
        #expect(first.admit(remoteAddress: address, now: 2_000_000_000, controller: connection) == nil)
        #expect(first.isRegistered)
        #expect(first.info.remoteAddress == "127.0.0.1:4000" && first.info.connectedAt == 2)
        #expect(harness.connections.list().map(\.id) == ["a"])

        var second = lifecycle("b")
        #expect(second.admit(remoteAddress: address, now: 0, controller: connection) == .total)
        #expect(!second.isRegistered)
        let ended = second.end(connection, bus: harness.bus, subscriptions: [])
        #expect(ended)  // nothing to deregister
        #expect(harness.connections.list().map(\.id) == ["a"])

        let firstEnd = first.end(connection, bus: harness.bus, subscriptions: [])
        let secondEnd = first.end(connection, bus: harness.bus, subscriptions: [])
        #expect(firstEnd && !secondEnd)  // idempotent
        #expect(harness.connections.list().isEmpty)
    }

    @Test func joinsTheSharedSweeperAndLeavesItAtTheEnd() {
        var state = lifecycle("a")
        let connection = Connection(loop: harness.loop, slot: slot)
        _ = state.admit(remoteAddress: nil, now: 0, controller: connection)
        state.joinKeepAlive(connection, on: harness.loop)
        harness.loop.advanceTime(by: KeepAliveSweeper.tick)
        #expect(connection.ticks == 1)
        state.end(connection, bus: harness.bus, subscriptions: [])
        harness.loop.advanceTime(by: KeepAliveSweeper.tick * 3)
        #expect(connection.ticks == 1 && connection.keepAliveSlot == -1)
    }

    @Test func credentialsExpireOnceAtTheirExpiry() {
        var state = lifecycle("a")
        let withoutExpiry = state.credentialsExpired(now: .max)
        state.identity = ClientIdentity(userID: "u", expiresAt: 100)
        let before = state.credentialsExpired(now: 99_000_000_000)
        let at = state.credentialsExpired(now: 100_000_000_000)
        let after = state.credentialsExpired(now: 200_000_000_000)
        // No expiry: never; then once at the expiry, which is counted and forgotten.
        #expect(!withoutExpiry && !before && at && !after)
    }

    @Test func endUnsubscribesAndLeavesPresence() throws {
        var state = lifecycle("a")
        let connection = Connection(loop: harness.loop, slot: slot)
        _ = state.admit(remoteAddress: nil, now: 0, controller: connection)
        state.update { $0.name = "alice" }
        #expect(harness.connections.list().first?.name == "alice")
        let filter = try TopicFilter("room/1")
        let subscription = harness.bus.subscribe(
            filter, subscriber: connection, subscriberID: "a", presence: state.info.presence
        ).subscription
        let topic = try Topic("room/1")
        #expect(harness.bus.presence.clients(of: topic).map(\.clientID) == ["a"])
        state.end(connection, bus: harness.bus, subscriptions: [subscription])
        #expect(harness.bus.presence.clients(of: topic).isEmpty)
        #expect(!subscription.isActive)
    }
}
