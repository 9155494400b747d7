import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import RedisEngine
import RedisWire
import Testing

/// The client against a real `redis-server` (one per test, on a free port): pipelining, transactions,
/// HELLO, AUTH, SELECT, pub/sub of every kind, reconnecting.
@Suite(.serialized) struct RedisClientIntegrationTests {
    static func connect(_ server: RedisServer, password: String? = nil, database: Int = 0) async throws -> RedisClient {
        let configuration = RedisClientConfiguration(
            host: "127.0.0.1", port: server.port, password: password, database: database,
            reconnectInitialDelay: .milliseconds(20), reconnectMaxDelay: .milliseconds(200))
        return try await RedisClient.connect(
            configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        ).get()
    }

    @Test func pipelinesAThousandCommands() async throws {
        let server = try RedisServer.start()
        defer { server.stop() }
        let client = try await Self.connect(server)
        // 1,000 SETs, then 1,000 INCRs and GETs, all in flight at once from this thread.
        let sets = (0..<1000).map { client.send(["SET", "key:\($0)", "value-\($0)"]) }
        let incrs = (0..<1000).map { _ in client.send(["INCR", "counter"]) }
        let gets = (0..<1000).map { client.send(["GET", "key:\($0)"]) }
        for set in sets { #expect(try await set.get() == .simpleString("OK")) }
        for (index, incr) in incrs.enumerated() { #expect(try await incr.get() == .integer(Int64(index + 1))) }
        for (index, get) in gets.enumerated() { #expect(try await get.get().string == "value-\(index)") }
        // A batch is one write; its replies come back in order too.
        let batch = client.send(batch: (0..<100).map { RESPCommand("INCRBY", "counter", String($0)) })
        #expect(try await batch.last!.get() == .integer(1000 + (0..<100).reduce(0, +)))
        try await client.close().get()
    }

    @Test func transactions() async throws {
        let server = try RedisServer.start()
        defer { server.stop() }
        let client = try await Self.connect(server)
        let replies = client.send(batch: [
            RESPCommand("MULTI"), RESPCommand("SET", "a", "1"), RESPCommand("INCR", "a"), RESPCommand("EXEC"),
        ])
        #expect(try await replies[0].get() == .simpleString("OK"))
        #expect(try await replies[1].get() == .simpleString("QUEUED"))
        #expect(try await replies[2].get() == .simpleString("QUEUED"))
        #expect(try await replies[3].get() == .array([.simpleString("OK"), .integer(2)]))
        try await client.close().get()
    }

    @Test func helloAnswersAMapAndErrorsAreTyped() async throws {
        let server = try RedisServer.start()
        defer { server.stop() }
        let client = try await Self.connect(server)
        guard case .map(let pairs) = try await client.send(["HELLO", "3"]).get() else {
            Issue.record("HELLO 3 answers a map")
            return
        }
        let fields = Dictionary(
            uniqueKeysWithValues: pairs.compactMap { pair in pair.key.string.map { ($0, pair.value) } })
        #expect(fields["server"]?.string == "redis")
        #expect(fields["proto"] == .integer(3))
        // RESP3 types from real replies: a double, a null, a set.
        _ = try await client.send(["ZADD", "z", "1.5", "m"]).get()
        #expect(try await client.send(["ZSCORE", "z", "m"]).get() == .double(1.5))
        #expect(try await client.send(["GET", "missing"]).get() == .null)
        _ = try await client.send(["SADD", "s", "x"]).get()
        #expect(try await client.send(["SMEMBERS", "s"]).get() == .set([.bulkString(ByteBuffer(string: "x"))]))
        // An error reply fails its command only; the connection goes on.
        await #expect(throws: RedisClientError.self) { try await client.send(["NOSUCHCOMMAND"]).get() }
        do {
            _ = try await client.send(["INCR", "s"]).get()
            Issue.record("INCR of a set fails")
        } catch let error as RedisClientError {
            #expect(error.serverErrorCode == "WRONGTYPE")
        }
        #expect(try await client.send(["PING"]).get() == .simpleString("PONG"))
        try await client.close().get()
    }

    @Test func authWithAPassword() async throws {
        let server = try RedisServer.start(password: "s3cret")
        defer { server.stop() }
        let client = try await Self.connect(server, password: "s3cret")
        #expect(try await client.send(["PING"]).get() == .simpleString("PONG"))
        try await client.close().get()
        do {
            _ = try await Self.connect(server, password: "wrong")
            Issue.record("a wrong password connects")
        } catch let error as RedisClientError {
            #expect(error.serverErrorCode == "WRONGPASS")
        }
        // Without a password, HELLO itself is refused: connect() fails, it does not hand out a client.
        do {
            _ = try await Self.connect(server)
            Issue.record("no password connects")
        } catch let error as RedisClientError {
            #expect(error.serverErrorCode == "NOAUTH")
        }
    }

    @Test func selectsItsDatabase() async throws {
        let server = try RedisServer.start()
        defer { server.stop() }
        let three = try await Self.connect(server, database: 3)
        let zero = try await Self.connect(server)
        _ = try await three.send(["SET", "where", "three"]).get()
        #expect(try await three.send(["GET", "where"]).get().string == "three")
        #expect(try await zero.send(["GET", "where"]).get() == .null)
        #expect(try await zero.send(["SELECT", "3"]).get() == .simpleString("OK"))
        #expect(try await zero.send(["GET", "where"]).get().string == "three")
        try await three.close().get()
        try await zero.close().get()
    }

    @Test func pubSubOfEveryKindOnTheCommandConnection() async throws {
        let server = try RedisServer.start()
        defer { server.stop() }
        let subscriber = try await Self.connect(server)
        let publisher = try await Self.connect(server)
        let received = Received()
        try await subscriber.subscribe(to: ["news", "sport"], handler: received.append).get()
        try await subscriber.subscribe(to: ["log.*"], kind: .pattern, handler: received.append).get()
        try await subscriber.subscribe(to: ["shard-1"], kind: .shardChannel, handler: received.append).get()
        // The same connection still runs commands.
        #expect(try await subscriber.send(["PING"]).get() == .simpleString("PONG"))
        #expect(try await publisher.send(["PUBLISH", "news", "hello"]).get() == .integer(1))
        #expect(try await publisher.send(["PUBLISH", "log.error", "disk"]).get() == .integer(1))
        #expect(try await publisher.send(["SPUBLISH", "shard-1", "sharded"]).get() == .integer(1))
        try await received.wait(count: 3)
        #expect(
            received.messages == [
                RedisPubSubMessage(kind: .channel, channel: "news", payload: ByteBuffer(string: "hello")),
                RedisPubSubMessage(
                    kind: .pattern, pattern: "log.*", channel: "log.error", payload: ByteBuffer(string: "disk")),
                RedisPubSubMessage(kind: .shardChannel, channel: "shard-1", payload: ByteBuffer(string: "sharded")),
            ])
        try await subscriber.unsubscribe(from: ["news"]).get()
        #expect(try await publisher.send(["PUBLISH", "news", "unheard"]).get() == .integer(0))
        #expect(try await publisher.send(["PUBLISH", "sport", "goal"]).get() == .integer(1))
        try await received.wait(count: 4)
        #expect(received.messages.last?.channel == "sport")
        try await subscriber.close().get()
        try await publisher.close().get()
    }

    @Test func reconnectsAndSubscribesAgainAfterTheServerIsKilled() async throws {
        let server = try RedisServer.start()
        defer { server.stop() }
        let client = try await Self.connect(server, database: 2)
        let received = Received()
        try await client.subscribe(to: ["events"], handler: received.append).get()
        try await client.subscribe(to: ["ev*"], kind: .pattern, handler: received.append).get()
        try await client.subscribe(to: ["shard-events"], kind: .shardChannel, handler: received.append).get()
        // Commands in flight when the server dies fail cleanly, and so do commands sent while it is away.
        let inFlight = (0..<100).map { client.send(["INCR", "n\($0)"]) }
        server.kill()
        for command in inFlight {
            do { _ = try await command.get() } catch let error as RedisClientError {
                #expect(error == .connectionClosed || error == .notConnected)
            }
        }
        // Once the drop is seen, commands fail at once with .notConnected (before, a write to the dead
        // socket fails with .connectionClosed): never a hang, never a crash.
        try await Task.sleep(for: .milliseconds(100))
        do {
            _ = try await client.send(["PING"]).get()
            Issue.record("PING answered with no server")
        } catch let error as RedisClientError {
            #expect(error == .notConnected || error == .connectionClosed)
        }

        try server.restart()
        // Back within the backoff cap (200 ms here): HELLO, SELECT 2 and the subscriptions again.
        let publisher = try await Self.connect(server)
        try await eventually {
            let subscribers = try await publisher.send(["PUBSUB", "NUMSUB", "events"]).get()
            let ping = try await client.send(["PING"]).get()
            // An array on Redis 7.0, a map where newer servers answer in RESP3.
            let count: RESPValue? =
                if case .map(let pairs) = subscribers { pairs.last?.value } else { subscribers.elements?.last }
            return ping == .simpleString("PONG") && count == .integer(1)
        }
        _ = try await client.send(["SET", "db", "two"]).get()
        #expect(try await publisher.send(["SELECT", "2"]).get() == .simpleString("OK"))
        #expect(try await publisher.send(["GET", "db"]).get().string == "two")
        try await eventually { try await publisher.send(["SPUBLISH", "shard-events", "s"]).get() == .integer(1) }
        #expect(try await publisher.send(["PUBLISH", "events", "back"]).get() == .integer(2))
        try await received.wait(count: 3)
        #expect(Set(received.messages.map(\.kind)) == [.channel, .pattern, .shardChannel])
        try await client.close().get()
        await #expect(throws: RedisClientError.clientClosed) { try await client.send(["PING"]).get() }
        try await publisher.close().get()
    }

    /// A client given several addresses dials them in turn: the first that answers; when it dies, the
    /// others (the one lost last), subscribing again there. What `dial` gives replaces the list.
    @Test func severalAddressesAreDialledInTurnAndALostOneIsLeft() async throws {
        let first = try RedisServer.start()
        defer { first.stop() }
        let second = try RedisServer.start()
        defer { second.stop() }
        var configuration = RedisClientConfiguration(
            host: "127.0.0.1", port: first.port, reconnectInitialDelay: .milliseconds(20),
            reconnectMaxDelay: .milliseconds(200))
        configuration.seeds = [
            RedisAddress(host: "127.0.0.1", port: first.port), RedisAddress(host: "127.0.0.1", port: second.port),
        ]
        let client = try await RedisClient.connect(
            configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        ).get()
        #expect(try await client.eventLoop.submit { client.connectedAddress?.port }.get() == first.port)
        let received = Received()
        try await client.subscribe(to: ["events"], handler: received.append).get()
        first.kill()
        let publisher = try await Self.connect(second)
        try await eventually { try await publisher.send(["PUBLISH", "events", "moved"]).get() == .integer(1) }
        try await received.wait(count: 1)
        #expect(try await client.eventLoop.submit { client.connectedAddress?.port }.get() == second.port)
        // `dial` decides from now on: an address with nothing listening, then the first server back.
        try first.restart()
        let nothing = try RedisServer.freeLoopbackPort()
        client.dial {
            [RedisAddress(host: "127.0.0.1", port: nothing), RedisAddress(host: "127.0.0.1", port: first.port)]
        }
        second.kill()
        try await eventually {
            try await client.eventLoop.submit { client.isConnected && client.connectedAddress?.port == first.port }
                .get()
        }
        #expect(try await client.send(["PING"]).get() == .simpleString("PONG"))
        try await client.close().get()
        try await publisher.close().get()
    }

    @Test func tlsWithRedissURL() async throws {
        let server = try RedisServer.start(password: "over-tls", tls: true)
        defer { server.stop() }
        var configuration = try RedisClientConfiguration(url: "rediss://:over-tls@localhost:\(server.port)/1")
        configuration.tls?.trustRoots = .file(server.certificatePath)
        let client = try await RedisClient.connect(
            configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        ).get()
        _ = try await client.send(["SET", "secure", "yes"]).get()
        #expect(try await client.send(["GET", "secure"]).get().string == "yes")
        #expect(try await client.send(["CLIENT", "INFO"]).get().string?.contains("db=1") == true)
        try await client.close().get()
    }

    /// Everything TLS and secrets from the URL alone, as `serve --engine` gets them: the password from a
    /// file, the private root from `ssl_ca_certs`, and a client certificate for a server that requires one
    /// (`tls-auth-clients yes`); without the certificate that server refuses the handshake.
    @Test func tlsRootsClientCertificateAndPasswordFileFromTheURL() async throws {
        let server = try RedisServer.start(password: "from-a-file", tls: true, clientCertificates: true)
        defer { server.stop() }
        let passwordFile = server.directory + "/password"
        try "from-a-file\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let base =
            "rediss://localhost:\(server.port)/2?password_file=\(passwordFile)&ssl_ca_certs=\(server.certificatePath)"
        let configuration = try RedisClientConfiguration(
            url: base + "&ssl_certfile=\(server.certificatePath)&ssl_keyfile=\(server.keyPath)")
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let client = try await RedisClient.connect(configuration: configuration, eventLoop: loop).get()
        #expect(try await client.send(["CLIENT", "INFO"]).get().string?.contains("db=2") == true)
        try await client.close().get()

        let withoutCertificate = try RedisClientConfiguration(url: base)
        await #expect(throws: (any Error).self) {
            try await RedisClient.connect(configuration: withoutCertificate, eventLoop: loop).get()
        }
    }

    /// Polls `condition` (errors count as false) for up to 10 s.
    func eventually(_ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("condition not met within 10 s")
    }
}

/// Messages a subscription handler received, from the client's loop.
final class Received: Sendable {
    private let box = NIOLockedValueBox<[RedisPubSubMessage]>([])

    var messages: [RedisPubSubMessage] { box.withLockedValue { $0 } }

    @Sendable func append(_ message: RedisPubSubMessage) {
        box.withLockedValue { $0.append(message) }
    }

    func wait(count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while messages.count < count {
            guard ContinuousClock.now < deadline else {
                Issue.record("\(messages.count) of \(count) messages within 10 s")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
