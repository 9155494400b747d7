import NIOCore
import RedisWire
import Testing

@testable import RedisEngine

/// Redis Cluster's pure parts: the key → slot function, the `CLUSTER SLOTS` map, redirect replies.
@Suite struct RedisClusterUnitTests {
    /// Each value is what `CLUSTER KEYSLOT` answered on redis-server 7.0.15 (and the cluster spec's CRC16
    /// check value: CRC16("123456789") = 0x31C3).
    @Test func slotsAreWhatRedisComputes() {
        #expect(RedisKeySlot.crc16(Array("123456789".utf8)) == 0x31C3)
        let vectors: [(String, Int)] = [
            ("123456789", 12739), ("foo", 12182), ("bar", 5061), ("somekey", 11058), ("", 0), ("é", 10180),
            // Hash tags: only what is between the first `{` and the first `}` after it, when not empty.
            ("foo{hash_tag}", 2515), ("bar{hash_tag}", 2515), ("{user1000}.following", 3443),
            ("{user1000}.followers", 3443), ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015), ("foo{bar}{zap}", 5061),
            ("{}", 15257), ("switchboard:{t:a/b}", 9893), ("switchboard.logmeta:{t:a/b}", 9893),
        ]
        for (key, slot) in vectors { #expect(RedisKeySlot.slot(of: key) == slot, "\(key)") }
    }

    @Test func theSlotMapComesFromClusterSlots() throws {
        func node(_ host: String, _ port: Int64) -> RESPValue {
            .array([.bulkString(ByteBuffer(string: host)), .integer(port), .bulkString(ByteBuffer(string: "id"))])
        }
        let reply = RESPValue.array([
            .array([.integer(0), .integer(5460), node("10.0.0.1", 7000), node("10.0.0.4", 7003)]),
            .array([.integer(5461), .integer(10922), node("", 7001)]),
            .array([.integer(10923), .integer(16383), node("?", 7002)]),
        ])
        let topology = try RedisClusterTopology.parse(slotsReply: reply, askedHost: "seed")
        #expect(topology.coveredSlots == RedisKeySlot.count)
        #expect(topology.primary(of: 0) == RedisAddress(host: "10.0.0.1", port: 7000))
        #expect(topology.primary(of: 5460) == RedisAddress(host: "10.0.0.1", port: 7000))
        #expect(topology.primary(of: 5461) == RedisAddress(host: "seed", port: 7001))
        #expect(topology.primary(of: 16383) == RedisAddress(host: "seed", port: 7002))
        #expect(topology.primaries.count == 3)
        #expect(topology.replicas == [RedisAddress(host: "10.0.0.4", port: 7003)])
        var moved = topology
        moved.assign(5461, to: RedisAddress(host: "10.0.0.1", port: 7000))
        #expect(moved.primary(of: 5461) == RedisAddress(host: "10.0.0.1", port: 7000))
        let partial = try RedisClusterTopology.parse(
            slotsReply: .array([.array([.integer(0), .integer(99), node("h", 1)])]), askedHost: "x")
        #expect(partial.coveredSlots == 100 && partial.primary(of: 100) == nil)
        for bad: RESPValue in [
            .integer(1), .array([.array([.integer(5), .integer(4), node("h", 1)])]),
            .array([.array([.integer(0), .integer(16384), node("h", 1)])]),
            .array([.array([.integer(0), .integer(1), node("h", 0)])]), .array([.array([.integer(0)])]),
        ] {
            #expect(throws: RedisClientError.self) { try RedisClusterTopology.parse(slotsReply: bad, askedHost: "x") }
        }
    }

    /// Several hosts in a URL are a cluster's seed nodes, in their order; one host is no list.
    @Test func severalHostsAreSeedNodes() throws {
        let seeds = try RedisClientConfiguration(
            url: "rediss://app:p%2C%40ss@n1:7000,n2,[::1]:7002,n1:7000/2")
        #expect(
            seeds.seeds == [
                RedisAddress(host: "n1", port: 7000), RedisAddress(host: "n2", port: 6379),
                RedisAddress(host: "::1", port: 7002),
            ])
        #expect(seeds.addresses == seeds.seeds && seeds.host == "n1" && seeds.port == 7000)
        #expect(seeds.user == "app" && seeds.password == "p,@ss" && seeds.database == 2 && seeds.tls != nil)
        #expect(seeds.endpointDescription == "n1:7000,n2:6379,[::1]:7002")
        let one = try RedisClientConfiguration(url: "redis://n1:7000")
        #expect(one.seeds.isEmpty && one.addresses == [RedisAddress(host: "n1", port: 7000)])
        let ipv6First = try RedisClientConfiguration(url: "redis://[::1]:7000,n2:7001")
        #expect(ipv6First.host == "::1" && ipv6First.port == 7000 && ipv6First.seeds.count == 2)
        for bad in [
            "redis://n1:7000,", "redis://,n1", "redis://n1:7000,n2:0", "redis://n1,n2:x", "redis://n1,[::1",
            "redis://n1,n2:1:2/0", "redis://n1,n 2", "redis://n1,n2/x",
        ] {
            #expect(throws: RedisClientError.self, "\(bad)") { try RedisClientConfiguration(url: bad) }
        }
    }

    @Test func redirectsNameTheirSlotAndNode() {
        let from = RedisAddress(host: "a", port: 1)
        let moved = RedisClusterTopology.redirect(in: "MOVED 3999 127.0.0.1:6381", answeredBy: from)
        #expect(
            moved?.kind == "MOVED" && moved?.slot == 3999
                && moved?.address == RedisAddress(host: "127.0.0.1", port: 6381))
        let ask = RedisClusterTopology.redirect(in: "ASK 3999 [::1]:6381", answeredBy: from)
        #expect(ask?.kind == "ASK" && ask?.address == RedisAddress(host: "::1", port: 6381))
        let sameHost = RedisClusterTopology.redirect(in: "MOVED 1 :6390", answeredBy: from)
        #expect(sameHost?.address == RedisAddress(host: "a", port: 6390))
        for bad in ["MOVED", "MOVED 16384 h:1", "ASK 1 h", "ASK 1 h:0", "ERR x y", "MOVED x h:1"] {
            #expect(RedisClusterTopology.redirect(in: bad, answeredBy: from) == nil, "\(bad)")
        }
    }
}
