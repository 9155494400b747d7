import NIOConcurrencyHelpers
import NIOHTTP1
import Testing

@testable import FrontendKit

/// The registry every protocol's connections join: admission by limit, lookups, closing. (The limits'
/// arithmetic per refusal is in Tests/ServerAppTests/ConnectionLimitsTests.swift.)
@Suite struct ConnectionRegistryTests {
    final class Controller: ConnectionController {
        let closes = NIOLockedValueBox<[CloseReason]>([])
        func requestClose(_ reason: CloseReason) { closes.withLockedValue { $0.append(reason) } }
    }

    func info(_ id: String, _ address: String? = "10.0.0.1:1000", at connectedAt: Double = 0) -> ConnectionInfo {
        ConnectionInfo(id: id, protocolName: "test", remoteAddress: address, connectedAt: connectedAt)
    }

    @Test func theTotalLimitRefusesTheConnectionPastIt() {
        let registry = ConnectionRegistry(maxConnections: 2)
        #expect(registry.register(info("a"), controller: Controller()))
        #expect(registry.register(info("b"), controller: Controller()))
        #expect(!registry.register(info("c"), controller: Controller()))
        #expect(registry.count == 2)
        registry.remove("a")
        #expect(registry.register(info("c"), controller: Controller()))
    }

    @Test func askingWhetherALimitWouldRefuseTakesNoSlot() {
        let registry = ConnectionRegistry(maxConnections: 1)
        #expect(registry.admissionRefusal(remoteAddress: "10.0.0.1:1") == nil)
        #expect(registry.admissionRefusal(remoteAddress: "10.0.0.1:1") == nil)
        #expect(registry.count == 0)
        #expect(registry.register(info("a"), controller: Controller()))
        #expect(registry.admissionRefusal(remoteAddress: nil) == .total)
    }

    @Test func thePerAddressLimitCountsHostsNotPorts() {
        let registry = ConnectionRegistry(limits: ConnectionLimits(maxConnections: 10, maxConnectionsPerAddress: 1))
        #expect(registry.admit(info("a", "[::1]:1000"), controller: Controller()) == nil)
        #expect(registry.admit(info("b", "[::1]:1001"), controller: Controller()) == .perAddress)
        #expect(registry.admit(info("c", "10.0.0.1:1000"), controller: Controller()) == nil)
        // No address (a Unix socket): no per-address limit applies.
        #expect(registry.admit(info("d", nil), controller: Controller()) == nil)
        #expect(registry.admit(info("e", nil), controller: Controller()) == nil)
    }

    @Test(arguments: [
        ("10.0.0.1:1000", "10.0.0.1"), ("[::1]:1000", "::1"), ("[fe80::1%eth0]:9", "fe80::1%eth0"),
        ("::1", "::1"), ("host", "host"),
    ])
    func hostIsTheAddressWithoutItsPort(remote: String, host: String) {
        #expect(ConnectionRegistry.host(remote) == host)
    }

    @Test func removeForgetsOnceAndFreesTheAddress() {
        let registry = ConnectionRegistry(limits: ConnectionLimits(maxConnections: 10, maxConnectionsPerAddress: 1))
        #expect(registry.register(info("a"), controller: Controller()))
        #expect(registry.remove("a"))
        #expect(!registry.remove("a"))
        #expect(registry.register(info("b"), controller: Controller()))
    }

    @Test func listIsInConnectionOrderAndShowsUpdates() {
        let registry = ConnectionRegistry(maxConnections: 10)
        #expect(registry.register(info("late", at: 20), controller: Controller()))
        #expect(registry.register(info("early", at: 10), controller: Controller()))
        registry.update("early") { $0.subscriptions = ["chat/#"] }
        registry.update("missing") { $0.subscriptions = ["x"] }
        #expect(registry.list().map(\.id) == ["early", "late"])
        #expect(registry.list().first?.subscriptions == ["chat/#"])
    }

    @Test func closeAsksTheConnectionsOwnController() {
        let registry = ConnectionRegistry(maxConnections: 10)
        let (a, b) = (Controller(), Controller())
        #expect(registry.register(info("a"), controller: a))
        #expect(registry.register(info("b"), controller: b))
        #expect(registry.close("a", reason: .administrative))
        #expect(!registry.close("nobody", reason: .administrative))
        #expect(a.closes.withLockedValue { $0 } == [.administrative])
        #expect(b.closes.withLockedValue { $0 }.isEmpty)
        registry.closeAll(reason: .shutdown)
        #expect(a.closes.withLockedValue { $0 } == [.administrative, .shutdown])
        #expect(b.closes.withLockedValue { $0 } == [.shutdown])
    }

    @Test func httpRefusalIs503WhenFullAndNilOtherwise() {
        let registry = ConnectionRegistry(maxConnections: 1)
        #expect(registry.httpRefusal(remoteAddress: nil) == nil)
        #expect(registry.register(info("a"), controller: Controller()))
        #expect(registry.httpRefusal(remoteAddress: nil)?.status == .serviceUnavailable)
    }
}
