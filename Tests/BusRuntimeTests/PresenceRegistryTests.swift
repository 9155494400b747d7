import BusCore
import BusRuntime
import Testing

/// The presence registry's joins and leaves, changed in place in the topic's clients (a copy taken out
/// first copied every entry per leave: Benchmarks/analysis.md, "Churn").
@Suite struct PresenceRegistryTests {
    static func info(_ client: String, at time: Double) -> PresenceInfo {
        PresenceInfo(
            clientID: client, userID: nil, name: nil, protocolName: "sse", connectedAt: time, remoteAddress: nil)
    }

    @Test func aClientSubscribedTwiceLeavesOnItsLastSubscriptionAndOthersStay() throws {
        let registry = PresenceRegistry(policy: PresencePolicy(filters: [try TopicFilter("#")]))
        let topic = try Topic("room/1")
        let clients = (0..<500).map { "c\($0)" }
        for (index, client) in clients.enumerated() {
            #expect(registry.join(topic, Self.info(client, at: Double(index))))
        }
        #expect(!registry.join(topic, Self.info("c7", at: 7)))  // a second subscription: not a new join
        #expect(registry.leave(topic, clientID: "c7") == nil)  // one subscription left
        #expect(registry.clients(of: topic).count == 500)
        #expect(registry.leave(topic, clientID: "c7")?.clientID == "c7")
        #expect(registry.leave(topic, clientID: "c7") == nil)  // gone
        #expect(registry.leave(try Topic("room/2"), clientID: "c8") == nil)  // another topic: nothing there

        // Every other client leaves in a scrambled order; the rest stay listed, oldest first.
        var remaining = clients.filter { $0 != "c7" }
        var order = remaining
        var generator = SystemRandomNumberGenerator()
        order.shuffle(using: &generator)
        for client in order {
            #expect(registry.leave(topic, clientID: client)?.clientID == client)
            remaining.removeAll { $0 == client }
            if remaining.count % 97 == 0 {
                #expect(registry.clients(of: topic).map(\.clientID) == remaining)
            }
        }
        #expect(registry.clients(of: topic).isEmpty)
        #expect(registry.localEntries().isEmpty)  // the topic itself is forgotten
        #expect(registry.join(topic, Self.info("c1", at: 1)))  // and joins anew
    }
}
