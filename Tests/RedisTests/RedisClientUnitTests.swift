import NIOCore
import NIOEmbedded
import RedisWire
import Testing

@testable import RedisEngine

/// The client's pure parts: URLs, backoff, and how replies and pushes are matched to commands in flight.
@Suite struct RedisClientUnitTests {
    @Test func urls() throws {
        let plain = try RedisClientConfiguration(url: "redis://localhost")
        #expect(plain.host == "localhost" && plain.port == 6379 && plain.database == 0 && plain.tls == nil)
        #expect(plain.user == nil && plain.password == nil)
        let full = try RedisClientConfiguration(url: "rediss://app:p%40ss@redis.example:6380/3")
        #expect(full.host == "redis.example" && full.port == 6380 && full.database == 3 && full.tls != nil)
        #expect(full.user == "app" && full.password == "p@ss")
        let passwordOnly = try RedisClientConfiguration(url: "redis://:secret@127.0.0.1:7000")
        #expect(passwordOnly.user == nil && passwordOnly.password == "secret" && passwordOnly.port == 7000)
        for bad in ["http://host", "redis://", "redis://host/abc", "redis://host/-1"] {
            #expect(throws: RedisClientError.self) { try RedisClientConfiguration(url: bad) }
        }
    }

    @Test func backoffDoublesUpToItsCapAndResets() {
        var backoff = RedisBackoff(initial: .milliseconds(50), maximum: .seconds(1))
        let delays = (0..<8).map { _ in backoff.nextDelay().nanoseconds / 1_000_000 }
        #expect(delays == [50, 100, 200, 400, 800, 1000, 1000, 1000])
        for _ in 0..<100 { _ = backoff.nextDelay() }
        #expect(backoff.nextDelay() == .seconds(1))
        backoff.reset()
        #expect(backoff.nextDelay() == .milliseconds(50))
    }

    @Test func repliesInOrderPushesOutOfBand() throws {
        let loop = EmbeddedEventLoop()
        var queue = RedisReplyQueue()
        let first = loop.makePromise(of: RESPValue.self)
        let subscribed = loop.makePromise(of: Void.self)
        let second = loop.makePromise(of: RESPValue.self)
        queue.append(.reply(first))
        queue.append(.confirmations(confirmation: "subscribe", remaining: 2, subscribed))
        queue.append(.reply(second))

        let message = RESPValue.push([
            .bulkString(ByteBuffer(string: "message")), .simpleString("a"), .simpleString("x"),
        ])
        guard case .deliver(let delivered) = queue.valueReceived(message) else {
            Issue.record("a message push is delivered")
            return
        }
        #expect(delivered == RedisPubSubMessage(kind: .channel, channel: "a", payload: ByteBuffer(string: "x")))
        guard case .succeed(_, .simpleString("OK")) = queue.valueReceived(.simpleString("OK")) else {
            Issue.record("the first reply answers the first command")
            return
        }
        let confirmation = RESPValue.push([.simpleString("subscribe"), .simpleString("a"), .integer(1)])
        guard case .none = queue.valueReceived(confirmation), case .confirmed = queue.valueReceived(confirmation) else {
            Issue.record("two confirmations complete a two-channel SUBSCRIBE")
            return
        }
        guard case .fail(_, nil, .server("ERR boom")) = queue.valueReceived(.simpleError("ERR boom")) else {
            Issue.record("an error reply fails its command")
            return
        }
        #expect(queue.isEmpty)
        guard case .protocolViolation = queue.valueReceived(.integer(1)) else {
            Issue.record("a reply nobody asked for is a violation")
            return
        }
        let pattern = RESPValue.push([
            .simpleString("pmessage"), .simpleString("n*"), .simpleString("news"), .bulkString(ByteBuffer(string: "!")),
        ])
        guard case .deliver(let patterned) = queue.valueReceived(pattern) else {
            Issue.record("a pattern message is delivered")
            return
        }
        #expect(patterned.pattern == "n*" && patterned.channel == "news" && patterned.kind == .pattern)
        for promise in [first, second] { promise.succeed(.null) }
        subscribed.succeed(())
    }
}
