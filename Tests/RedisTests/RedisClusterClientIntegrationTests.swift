import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RedisEngine
import RedisWire
import Testing

/// The cluster client against a real 3-primary Redis Cluster (`RedisClusterServers`, one per test): keys
/// on every primary, `MOVED` after a reshard the client did not hear of, `ASK` during a migration,
/// `TRYAGAIN`, and shard subscriptions that follow their slot.
@Suite(.serialized) struct RedisClusterClientIntegrationTests {
    static func connect(
        _ cluster: RedisClusterServers, refresh: TimeAmount = .hours(1), password: String? = nil
    ) async throws -> RedisClusterClient {
        let client = RedisClusterClient(
            configuration: RedisClientConfiguration(
                host: "127.0.0.1", port: cluster.ports[1], password: password,
                reconnectInitialDelay: .milliseconds(20),
                reconnectMaxDelay: .milliseconds(200)),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: .init(label: "test"))
        // No periodic refresh unless asked: what the client learns, it learns from redirects.
        client.topologyRefreshInterval = refresh
        try await client.connect().get()
        return client
    }

    /// A key whose slot the node `index` serves.
    static func key(on index: Int, of cluster: RedisClusterServers, prefix: String = "k") throws -> String {
        let count = cluster.nodes.count
        for n in 0..<100_000 {
            let key = "\(prefix)\(n)"
            if RedisKeySlot.slot(of: key) * count / RedisKeySlot.count == index { return key }
        }
        throw RedisServer.Failure("no key found")
    }

    @Test func keysGoToTheirSlotsPrimary() async throws {
        let cluster = try RedisClusterServers.start()
        defer { cluster.stop() }
        let client = try await Self.connect(cluster)
        #expect(client.topology.primaries.count == 3)
        let sets = client.send(batch: (0..<300).map { (RESPCommand("SET", "key:\($0)", "v\($0)"), "key:\($0)") })
        for set in sets { #expect(try await set.get() == .simpleString("OK")) }
        for n in 0..<300 {
            #expect(try await client.send(RESPCommand("GET", "key:\(n)"), key: "key:\(n)").get().string == "v\(n)")
        }
        // Every primary holds its share, and only keys of its own slots (else it would have said MOVED).
        var total: Int64 = 0
        for index in 0..<3 {
            guard case .integer(let size) = try cluster.command(index, ["DBSIZE"]) else {
                throw RedisServer.Failure("DBSIZE")
            }
            #expect(size > 50)
            total += size
        }
        #expect(total == 300)
        // A multi-key command in one slot, through hash tags.
        _ = try await client.send(RESPCommand("MSET", "{user}.a", "1", "{user}.b", "2"), key: "{user}.a").get()
        #expect(
            try await client.send(RESPCommand("MGET", "{user}.a", "{user}.b"), key: "{user}").get()
                == .array([.bulkString(ByteBuffer(string: "1")), .bulkString(ByteBuffer(string: "2"))]))
        try await client.close().get()
    }

    /// The seed's password is every node's: each primary's connection says HELLO with AUTH.
    @Test func everyPrimaryIsAskedWithTheSeedsPassword() async throws {
        let cluster = try RedisClusterServers.start(password: "s3cret")
        defer { cluster.stop() }
        let client = try await Self.connect(cluster, password: "s3cret")
        for index in 0..<3 {
            let key = try Self.key(on: index, of: cluster)
            _ = try await client.send(RESPCommand("SET", key, "v"), key: key).get()
            #expect(try cluster.command(index, ["GET", key]).string == "v")
        }
        try await client.close().get()
        let refused = RedisClusterClient(
            configuration: RedisClientConfiguration(host: "127.0.0.1", port: cluster.ports[0], password: "wrong"),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: .init(label: "test"))
        await #expect(throws: RedisClientError.self) { try await refused.connect().get() }
        try await refused.close().get()
    }

    /// Seeds are tried in turn (the first has nothing listening); once connected, the map is asked of any
    /// node known, so it is followed after the seed that gave it has gone.
    @Test func severalSeedsAreTriedAndAnyKnownNodeRefreshesTheMap() async throws {
        let cluster = try RedisClusterServers.start()
        defer { cluster.stop() }
        let nothing = try RedisServer.freeLoopbackPort()
        let client = RedisClusterClient(
            configuration: try RedisClientConfiguration(
                url: "redis://127.0.0.1:\(nothing),127.0.0.1:\(cluster.ports[0])"),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: .init(label: "test"))
        client.topologyRefreshInterval = .hours(1)
        try await client.connect().get()
        #expect(client.topology.primaries.count == 3)
        let key = try Self.key(on: 1, of: cluster)
        let slot = RedisKeySlot.slot(of: key)
        // The seed that answered goes; a slot moves between the two left, told to them alone.
        cluster.nodes[0].stop()
        try cluster.moveSlot(slot, from: 1, to: 2, finish: false)
        let target = try cluster.nodeID(2)
        for index in [2, 1] { try cluster.command(index, ["CLUSTER", "SETSLOT", String(slot), "NODE", target]) }
        var followed = false
        for _ in 0..<50 where !followed {
            client.refresh()
            try await Task.sleep(for: .milliseconds(100))
            followed =
                try await client.eventLoop.submit { client.topology.primary(of: slot)?.port }.get()
                == cluster.ports[2]
        }
        #expect(followed)
        let known = try await client.eventLoop.submit { client.knownNodes.map(\.port) }.get()
        #expect(Set(known.prefix(2)) == [cluster.ports[1], cluster.ports[2]], "\(known)")
        #expect(Set(known) == Set(cluster.ports + [nothing]), "\(known)")
        try await client.close().get()
    }

    @Test func movedIsFollowedAndTheMapUpdated() async throws {
        let cluster = try RedisClusterServers.start()
        defer { cluster.stop() }
        let client = try await Self.connect(cluster)
        let key = try Self.key(on: 0, of: cluster)
        let slot = RedisKeySlot.slot(of: key)
        _ = try await client.send(RESPCommand("SET", key, "before"), key: key).get()
        // Resharded behind the client's back: its map still says node 0.
        try cluster.moveSlot(slot, from: 0, to: 2)
        #expect(try await client.eventLoop.submit { client.topology.primary(of: slot)?.port }.get() == cluster.ports[0])
        #expect(try await client.send(RESPCommand("GET", key), key: key).get().string == "before")
        _ = try await client.send(RESPCommand("SET", key, "after"), key: key).get()
        #expect(try await client.eventLoop.submit { client.topology.primary(of: slot)?.port }.get() == cluster.ports[2])
        #expect(try cluster.command(2, ["GET", key]).string == "after")
        try await client.close().get()
    }

    @Test func askIsFollowedDuringAMigration() async throws {
        let cluster = try RedisClusterServers.start()
        defer { cluster.stop() }
        let client = try await Self.connect(cluster)
        let key = try Self.key(on: 1, of: cluster)
        let slot = RedisKeySlot.slot(of: key)
        _ = try await client.send(RESPCommand("SET", key, "moved"), key: key).get()
        // Migrating, the key already on the target, the slot not handed over: the source answers ASK.
        try cluster.moveSlot(slot, from: 1, to: 0, finish: false)
        #expect(try await client.send(RESPCommand("GET", key), key: key).get().string == "moved")
        // A new key of the migrating slot is created on the target (ASK again), and the map is unchanged.
        let sibling = "{\(key)}.new"
        _ = try await client.send(RESPCommand("SET", sibling, "new"), key: sibling).get()
        #expect(try await client.eventLoop.submit { client.topology.primary(of: slot)?.port }.get() == cluster.ports[1])
        try cluster.finishMove(slot, to: 0, from: 1)
        #expect(try await client.send(RESPCommand("GET", sibling), key: sibling).get().string == "new")
        try await client.close().get()
    }

    @Test func aShardSubscriptionFollowsItsSlot() async throws {
        let cluster = try RedisClusterServers.start()
        defer { cluster.stop() }
        let client = try await Self.connect(cluster, refresh: .milliseconds(200))
        let channel = try Self.key(on: 2, of: cluster, prefix: "channel:")
        let received = NIOLockedValueBox<[String]>([])
        try await client.subscribe(shardChannel: channel) { message in
            received.withLockedValue { $0.append(String(buffer: message.payload)) }
        }.get()
        _ = try await client.send(RESPCommand("SPUBLISH", channel, "one"), key: channel).get()
        try cluster.moveSlot(RedisKeySlot.slot(of: channel), from: 2, to: 1)
        // Within a refresh the subscription is on the new primary, where SPUBLISH now goes.
        var delivered = false
        for n in 0..<50 where !delivered {
            let reply = try await client.send(RESPCommand("SPUBLISH", channel, "two-\(n)"), key: channel).get()
            delivered = reply == .integer(1)
            if !delivered { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(delivered)
        try await Task.sleep(for: .milliseconds(200))
        let got = received.withLockedValue { $0 }
        #expect(got.first == "one" && got.last?.hasPrefix("two-") == true, "\(got)")
        #expect(try cluster.command(1, ["PUBSUB", "SHARDNUMSUB", channel]).elements?.last == .integer(1))
        try await client.unsubscribe(shardChannel: channel).get()
        try await client.close().get()
    }
}
