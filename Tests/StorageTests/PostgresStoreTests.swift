import BusCore
import Foundation
import NIOCore
import Testing

@testable import Storage

/// What only the PostgreSQL store has: its URL, failures inside a transaction, a database that goes away
/// and comes back. (The shared contract is `StoreTests`, run against every store.)
@Suite(.postgresServer) struct PostgresStoreTests {
    static func write(_ store: any Store, _ writes: [StoreWrite]) async -> (any Error)? {
        await withCheckedContinuation { continuation in
            store.submit(writes) { continuation.resume(returning: $0) }
        }
    }

    static func queue(_ name: String) -> StoreWrite {
        .saveQueue(StoredQueue(name: name, durable: true, exclusive: false, autoDelete: false, arguments: []))
    }

    @Test func theURLNamesHostPortUserDatabaseAndTLS() throws {
        let configuration = try PostgresStoreConfiguration(
            url: "postgres://sb:s%40cret@db.example:6543/switchboard?sslmode=require")
        #expect(
            configuration
                == PostgresStoreConfiguration(
                    host: "db.example", port: 6543, user: "sb", password: "s@cret", database: "switchboard",
                    tls: .require))
        #expect(!configuration.description.contains("cret"))
        let defaults = try PostgresStoreConfiguration(url: "postgresql://sb@localhost/db")
        #expect(defaults.port == 5432 && defaults.password == nil && defaults.tls == .disable)
    }

    /// libpq's `sslmode` values (not the downgrading `prefer` / `allow`), and `sslrootcert`, with which
    /// `require` verifies the chain as libpq's does.
    @Test func sslModesAreLibpqs() throws {
        let root = NSTemporaryDirectory() + "pg-root-\(UUID().uuidString).pem"
        try "not checked here\n".write(toFile: root, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (query, mode, file) in [
            ("sslmode=verify-full", PostgresStoreConfiguration.TLSMode.verifyFull, nil as String?),
            ("sslmode=verify-ca&sslrootcert=\(root)", .verifyCA, root),
            ("sslmode=require&sslrootcert=\(root)", .verifyCA, root),
            ("sslmode=require", .require, nil),
        ] {
            let configuration = try PostgresStoreConfiguration(url: "postgres://sb@h/db?\(query)")
            #expect(configuration.tls == mode && configuration.rootCertificateFile == file, "\(query)")
            #expect(configuration.description.contains("sslmode=\(mode.rawValue)"))
        }
        for query in ["sslmode=prefer", "sslmode=allow", "sslrootcert=\(root)", "sslmode=require&sslrootcert=/nope"] {
            #expect(throws: StoreError.self, "\(query)") {
                try PostgresStoreConfiguration(url: "postgres://sb@h/db?\(query)")
            }
        }
    }

    @Test func thePasswordCanComeFromAFile() throws {
        let path = NSTemporaryDirectory() + "pg-password-\(UUID().uuidString)"
        try "from-file\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try PostgresStoreConfiguration(url: "postgres://sb@h:1/db?password_file=\(path)")
        #expect(configuration.password == "from-file")
        try "crlf-file\r\nsecond line".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(
            try PostgresStoreConfiguration(url: "postgres://sb@h:1/db?password_file=\(path)").password == "crlf-file")
        #expect(throws: StoreError.self) {
            try PostgresStoreConfiguration(url: "postgres://sb:inline@h:1/db?password_file=\(path)")
        }
        #expect(throws: StoreError.self) {
            try PostgresStoreConfiguration(url: "postgres://sb@h/db?password_file=/nope")
        }
    }

    @Test(arguments: [
        "postgres://h/db", "postgres://sb@h", "postgres://sb@h/", "mysql://sb@h/db", "postgres://sb@h/db?sslmode=maybe",
        "postgres://sb@h/db?color=blue",
    ])
    func malformedURLsAreRefused(url: String) {
        #expect(throws: StoreError.self) { try PostgresStoreConfiguration(url: url) }
    }

    @Test func errorsNeverCarryThePassword() {
        do {
            _ = try PostgresStoreConfiguration(url: "postgres://sb:hunter2@h/db?sslmode=maybe")
            Issue.record("accepted")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    @Test func aWrongPasswordFailsTheOpenWithTheServersReason() throws {
        let server = try #require(PostgresServer.current)
        var configuration = try server.createDatabase()
        configuration.password = "wrong"
        #expect {
            try PostgresStore(configuration: configuration)
        } throws: { error in
            "\(error)".contains("password authentication failed") && !"\(error)".contains("wrong")
        }
    }

    /// One failing statement fails its whole group commit: nothing of it is stored, the store keeps
    /// working. (PostgreSQL's text cannot hold NUL, which SQLite's can: a write only PostgreSQL refuses.)
    @Test func aFailedStatementFailsTheWholeBatch() async throws {
        let server = try #require(PostgresServer.current)
        let configuration = try server.createDatabase()
        let store = try PostgresStore(configuration: configuration)
        defer { store.close() }
        let failure = await Self.write(store, [Self.queue("kept-out"), Self.queue("bad\u{0}name")])
        #expect(failure != nil)
        #expect(await Self.write(store, [Self.queue("after")]) == nil)
        #expect(try store.load().queues.map(\.name) == ["after"])
        #expect(store.statistics.failedCommits == 1)
    }

    /// Consecutive appends and session messages go as one multi-row statement: a row written twice in
    /// one run keeps its last version, and a write of another kind in between keeps its place.
    @Test func runsOfRowsKeepOrderAndTheLastVersionOfARow() async throws {
        let server = try #require(PostgresServer.current)
        let store = try PostgresStore(configuration: try server.createDatabase())
        defer { store.close() }
        let a = try Topic("a")
        let b = try Topic("b")
        func append(_ topic: Topic, _ text: String, _ offset: UInt64, epoch: String = "e1") throws -> StoreWrite {
            .appendLog(
                topic: topic, epoch: epoch,
                message: try StoreTests.message(topic.name, text, offset: offset, epoch: epoch), keep: 10)
        }
        let failure = await Self.write(
            store,
            [
                try append(a, "a1", 1), try append(b, "b1", 1), try append(a, "a2", 2),
                .saveSessionMessage(seq: 1, message: try StoreTests.message("s", "first")),
                .saveSessionMessage(seq: 1, message: try StoreTests.message("s", "second")),
                try append(a, "again", 2), .resetLog(topic: b, epoch: "e2"), try append(b, "fresh", 1, epoch: "e2"),
            ])
        #expect(failure == nil)
        let state = try store.load()
        let logs = Dictionary(uniqueKeysWithValues: state.logs.map { ($0.topic.name, $0) })
        #expect(logs["a"]?.messages.map { String(buffer: $0.payload) } == ["a1", "again"])
        #expect(logs["b"]?.epoch == "e2" && logs["b"]?.messages.map { String(buffer: $0.payload) } == ["fresh"])
        #expect(state.sessionMessages.map { String(buffer: $0.message.payload) } == ["second"])
    }

    @Test func aLogWithAMissingRowIsNotIntact() async throws {
        let server = try #require(PostgresServer.current)
        let configuration = try server.createDatabase()
        let store = try PostgresStore(configuration: configuration)
        defer { store.close() }
        let topic = try Topic("t")
        let writes: [StoreWrite] = try (UInt64(1)...3).map {
            .appendLog(
                topic: topic, epoch: "e", message: try StoreTests.message("t", "\($0)", offset: $0, epoch: "e"),
                keep: 10)
        }
        #expect(await Self.write(store, writes) == nil)
        try server.execute(#"DELETE FROM log_message WHERE "offset" = 2"#, database: configuration.database)
        #expect(try store.load().logs.first?.intact == false)
    }

    /// The database stops and starts again: writes while it is down fail (never reported stored), and the
    /// writer reconnects by itself once it is back. A server of this test's own, since it is stopped.
    @Test func theWriterReconnectsAfterTheDatabaseRestarts() async throws {
        let server = try PostgresServer.start()
        defer { server.stop() }
        let store = try PostgresStore(configuration: try server.createDatabase())
        defer { store.close() }
        #expect(await Self.write(store, [Self.queue("before")]) == nil)
        try server.pause()
        #expect(await Self.write(store, [Self.queue("while-down")]) != nil)
        try server.resume()
        #expect(await Self.write(store, [Self.queue("after")]) == nil)
        #expect(try store.load().queues.map(\.name) == ["after", "before"])
    }

    /// `read_connections`: reads below a stream's memory tail run on a pool of connections — reads asked
    /// at once spread over its lanes (never more than it has) and each gets its own offsets.
    @Test func streamReadsRunOnAPoolOfConnections() async throws {
        let server = try #require(PostgresServer.current)
        var configuration = try server.createDatabase()
        configuration.readConnections = 3
        let store = try PostgresStore(configuration: configuration)
        defer { store.close() }
        let writes: [StoreWrite] =
            [
                .saveStream(try StoreTests.streamConfiguration("orders")),
                .saveStreamPartition(stream: "orders", partition: 0, epoch: "e0", lastOffset: 0),
                .saveStreamPartition(stream: "orders", partition: 1, epoch: "e1", lastOffset: 0),
            ] + (try (UInt64(1)...40).map { .appendStream(try StoreTests.streamMessage("orders", Int($0 % 2), $0)) })
        #expect(await Self.write(store, writes) == nil)
        #expect(store.openStreamReadConnections == 0)
        let reads = try await withThrowingTaskGroup(of: (Int, [UInt64]).self) { group in
            for index in 0..<12 {
                let partition = index % 2
                let offsets = (UInt64(1)...40).filter { Int($0 % 2) == partition && $0 % 3 != UInt64(index % 3) }
                group.addTask {
                    let read = try await StoreTests.readStream(store, "orders", partition, offsets)
                    #expect(read.allSatisfy { String(buffer: $0.message.payload) == "m\($0.offset)" })
                    return (index, read.map(\.offset))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for index in 0..<12 {
            let partition = index % 2
            #expect(reads[index] == (UInt64(1)...40).filter { Int($0 % 2) == partition && $0 % 3 != UInt64(index % 3) })
        }
        #expect((2...3).contains(store.openStreamReadConnections))
        #expect(try PostgresStoreConfiguration(url: "postgres://sb@h/db?read_connections=8").readConnections == 8)
        #expect(try PostgresStoreConfiguration(url: "postgres://sb@h/db").readConnections == 4)
        for bad in ["0", "33", "x", ""] {
            #expect(throws: StoreError.self, "\(bad)") {
                try PostgresStoreConfiguration(url: "postgres://sb@h/db?read_connections=\(bad)")
            }
        }
    }
}
