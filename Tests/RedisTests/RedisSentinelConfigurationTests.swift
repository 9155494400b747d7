import NIOCore
import RedisWire
import Testing

@testable import RedisEngine

/// Sentinel URLs (`redis-sentinel://…`) and the replies the client reads from sentinels.
@Suite struct RedisSentinelConfigurationTests {
    @Test func theSlashFormNamesTheMasterThenTheDatabase() throws {
        let one = try RedisClientConfiguration(url: "redis-sentinel://127.0.0.1:26380/mymaster")
        #expect(
            one.sentinel
                == RedisSentinelConfiguration(
                    sentinels: [RedisAddress(host: "127.0.0.1", port: 26380)], masterName: "mymaster"))
        #expect(one.host == "127.0.0.1" && one.port == 26380 && one.database == 0 && one.password == nil)
        let many = try RedisClientConfiguration(
            url: "redis-sentinel://app:p%40ss@s1,s2:26400,[::1]:26500,[fe80::1]/my%20master/4")
        #expect(
            many.sentinel?.sentinels == [
                RedisAddress(host: "s1", port: 26379), RedisAddress(host: "s2", port: 26400),
                RedisAddress(host: "::1", port: 26500), RedisAddress(host: "fe80::1", port: 26379),
            ])
        #expect(many.sentinel?.masterName == "my master" && many.database == 4)
        #expect(many.user == "app" && many.password == "p@ss")
        #expect(
            many.endpointDescription == "master my master via sentinels s1:26379,s2:26400,[::1]:26500,[fe80::1]:26379")
        let passwordOnly = try RedisClientConfiguration(url: "REDIS-SENTINEL://:secret@h/m")
        #expect(passwordOnly.user == nil && passwordOnly.password == "secret")
    }

    @Test func lettucesFragmentFormNamesTheMaster() throws {
        let parsed = try RedisSentinelConfiguration.parse("redis-sentinel://h1:1,h2:2/3#mymaster")
        #expect(parsed.sentinel.masterName == "mymaster" && parsed.database == 3)
        #expect(parsed.sentinel.sentinels == [RedisAddress(host: "h1", port: 1), RedisAddress(host: "h2", port: 2)])
        #expect(try RedisSentinelConfiguration.parse("redis-sentinel://h#m").database == 0)
    }

    @Test func malformedURLsAreRefused() {
        let bad = [
            "redis-sentinel://", "redis-sentinel://h", "redis-sentinel://h/", "redis-sentinel:///m",
            "redis-sentinel://h,/m", "redis-sentinel://,h/m", "redis-sentinel://h:0/m", "redis-sentinel://h:65536/m",
            "redis-sentinel://h:x/m", "redis-sentinel://h:1:2/m", "redis-sentinel://[::1/m",
            "redis-sentinel://[::1]x/m", "redis-sentinel://h/m/x", "redis-sentinel://h/m/-1",
            "redis-sentinel://h/m/1/2",
            "redis-sentinel://h/1/2#m", "redis-sentinel://h#", "redis-sentinel://h/m%zz", "redis-sentinel://u%zz@h/m",
            "redis-sentinels://h/m", "sentinel://h/m",
        ]
        for url in bad {
            #expect(throws: RedisClientError.self, "\(url)") { try RedisSentinelConfiguration.parse(url) }
        }
    }

    @Test func arbitraryTextNeverCrashesTheParser() {
        // A small deterministic fuzz: every prefix of mixed-up URLs parses or throws, never traps.
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("redis-sentinel://:@[],/#%0123456789abcmyhost.:")
        for _ in 0..<5_000 {
            let length = Int.random(in: 0..<40, using: &generator)
            let text =
                "redis-sentinel://" + String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            if let parsed = try? RedisSentinelConfiguration.parse(text) {
                #expect(!parsed.sentinel.sentinels.isEmpty && !parsed.sentinel.masterName.isEmpty)
                #expect(parsed.sentinel.sentinels.allSatisfy { (1...65535).contains($0.port) && !$0.host.isEmpty })
            }
        }
    }

    @Test func masterAddressReplies() throws {
        let reply = RESPValue.array([
            .bulkString(ByteBuffer(string: "10.0.0.5")), .bulkString(ByteBuffer(string: "6380")),
        ])
        #expect(try RedisClient.masterAddress(in: reply, name: "m") == RedisAddress(host: "10.0.0.5", port: 6380))
        for unknown in [RESPValue.null, .array(nil)] {
            #expect(throws: RedisClientError.sentinel("the sentinel does not know master m")) {
                try RedisClient.masterAddress(in: unknown, name: "m")
            }
        }
        for bad in [
            RESPValue.array([.bulkString(ByteBuffer(string: "h"))]),
            .array([.bulkString(ByteBuffer(string: "h")), .bulkString(ByteBuffer(string: "0"))]),
            .array([.bulkString(ByteBuffer(string: "")), .bulkString(ByteBuffer(string: "1"))]),
        ] {
            #expect(throws: RedisClientError.self) { try RedisClient.masterAddress(in: bad, name: "m") }
        }
    }
}
