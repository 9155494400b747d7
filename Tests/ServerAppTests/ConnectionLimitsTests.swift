import FrontendKit
import NIOConcurrencyHelpers
import NIOHTTP1
import Testing

@Suite struct ConnectionLimitsTests {
    final class Controller: ConnectionController {
        func requestClose(_ reason: CloseReason) {}
    }

    private func info(_ id: String, _ address: String) -> ConnectionInfo {
        ConnectionInfo(id: id, protocolName: "test", remoteAddress: address, connectedAt: 0)
    }

    @Test func perAddressLimitCountsAcrossConnectionsAndFreesOnRemove() {
        let registry = ConnectionRegistry(limits: ConnectionLimits(maxConnections: 10, maxConnectionsPerAddress: 2))
        let controller = Controller()
        #expect(registry.admit(info("a", "10.0.0.1:1000"), controller: controller) == nil)
        #expect(registry.admit(info("b", "10.0.0.1:1001"), controller: controller) == nil)
        #expect(registry.admit(info("c", "10.0.0.1:1002"), controller: controller) == .perAddress)
        #expect(registry.admit(info("d", "10.0.0.2:1000"), controller: controller) == nil)
        #expect(registry.admit(info("e", "[::1]:1000"), controller: controller) == nil)
        registry.remove("a")
        #expect(registry.admit(info("c", "10.0.0.1:1002"), controller: controller) == nil)
    }

    @Test func totalLimitComesFirst() {
        let registry = ConnectionRegistry(limits: ConnectionLimits(maxConnections: 1, maxConnectionsPerAddress: 1))
        #expect(registry.admit(info("a", "10.0.0.1:1"), controller: Controller()) == nil)
        #expect(registry.admit(info("b", "10.0.0.1:2"), controller: Controller()) == .total)
        #expect(registry.httpRefusal(remoteAddress: nil)?.status == .serviceUnavailable)
    }

    @Test func connectRateIsATokenBucket() {
        let now = NIOLockedValueBox<UInt64>(0)
        let registry = ConnectionRegistry(
            limits: ConnectionLimits(maxConnections: 100, maxConnectsPerSecond: 2),
            clock: { now.withLockedValue { $0 } })
        #expect(registry.admit(info("a", "h:1"), controller: Controller()) == nil)
        #expect(registry.admit(info("b", "h:2"), controller: Controller()) == nil)
        #expect(registry.admit(info("c", "h:3"), controller: Controller()) == .rate)
        now.withLockedValue { $0 = 500_000_000 }  // half a second: one token back
        #expect(registry.admit(info("c", "h:3"), controller: Controller()) == nil)
        #expect(registry.admit(info("d", "h:4"), controller: Controller()) == .rate)
        #expect(registry.httpRefusal(remoteAddress: nil)?.status == .tooManyRequests)
    }
}
