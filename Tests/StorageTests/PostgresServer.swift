import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Storage
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A PostgreSQL server of the tests' own: `initdb` in a temporary directory, started with `pg_ctl` on a
/// free loopback port (never 5432), password authentication (SCRAM) for the user `switchboard`, stopped
/// and deleted by `stop()`. PostgreSQL refuses to run as root, so as root the binaries run as the
/// `postgres` user (`runuser`) on a directory it owns. Binaries: `SWITCHBOARD_POSTGRES_BIN`, else Debian's
/// `/usr/lib/postgresql/<version>/bin` (scripts/test installs the `postgresql` package when it is missing).
///
/// The server runs with `fsync=off`: the tests crash and restart the store, not the database server.
final class PostgresServer: Sendable {
    let port: Int
    let directory: String
    let binaries: String
    let user = "switchboard"
    let password: String

    /// The server of the suite running now (`.postgresServer` trait).
    @TaskLocal static var current: PostgresServer?

    private init(port: Int, directory: String, binaries: String, password: String) {
        self.port = port
        self.directory = directory
        self.binaries = binaries
        self.password = password
    }

    static func start() throws -> PostgresServer {
        let binaries = try findBinaries()
        let directory = NSTemporaryDirectory() + "switchboard-pg-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let password = UUID().uuidString
        try password.write(toFile: directory + "/password", atomically: true, encoding: .utf8)
        if getuid() == 0 { try run("/bin/chown", ["-R", "postgres:postgres", directory]) }
        try runAsPostgres(
            binaries + "/initdb",
            [
                "-D", directory + "/data", "-U", "switchboard", "--pwfile=\(directory)/password",
                "--auth=scram-sha-256", "--no-sync", "--encoding=UTF8", "--locale=C",
            ])
        // A port found free can be taken before the server binds it: try a few.
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try freeLoopbackPort()
            do {
                try runAsPostgres(
                    binaries + "/pg_ctl",
                    [
                        "-D", directory + "/data", "-l", directory + "/server.log", "-w", "-t", "60", "-o",
                        "-c port=\(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories=\(directory) -c fsync=off",
                        "start",
                    ])
                return PostgresServer(port: port, directory: directory, binaries: binaries, password: password)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? StoreError("postgres did not start")
    }

    /// A new, empty database on this server, and how the store reaches it.
    func createDatabase() throws -> PostgresStoreConfiguration {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try execute("CREATE DATABASE \(name)", database: "postgres")
        return configuration(database: name)
    }

    func configuration(database: String) -> PostgresStoreConfiguration {
        PostgresStoreConfiguration(host: "127.0.0.1", port: port, user: user, password: password, database: database)
    }

    /// Runs `sql` (one statement) in `database`, outside any store.
    func execute(_ sql: String, database: String) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let connection = try PostgresConnection.connect(
            on: group.next(),
            configuration: .init(
                host: "127.0.0.1", port: port, username: user, password: password, database: database, tls: .disable),
            id: 0, logger: Logger(label: "postgres-test")
        ).wait()
        defer { _ = try? connection.close().wait() }
        _ = try connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "postgres-test")).wait()
    }

    /// Stops the server (`immediate`: nothing to keep) and deletes its directory.
    func stop() {
        try? Self.runAsPostgres(binaries + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Stops the server cleanly, keeping its data (for tests that take the database away).
    func pause() throws {
        try Self.runAsPostgres(binaries + "/pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "stop"])
    }

    /// Starts a paused server again on the same port.
    func resume() throws {
        try Self.runAsPostgres(
            binaries + "/pg_ctl",
            [
                "-D", directory + "/data", "-l", directory + "/server.log", "-w", "-t", "60", "-o",
                "-c port=\(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories=\(directory) -c fsync=off",
                "start",
            ])
    }

    private static func findBinaries() throws -> String {
        if let configured = ProcessInfo.processInfo.environment["SWITCHBOARD_POSTGRES_BIN"] { return configured }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/pg_ctl") {
            return "\(root)/\(version)/bin"
        }
        throw StoreError(
            "no PostgreSQL server binaries under \(root) (apt-get install postgresql; scripts/test does) "
                + "and SWITCHBOARD_POSTGRES_BIN is not set")
    }

    private static func runAsPostgres(_ executable: String, _ arguments: [String]) throws {
        if getuid() == 0 {
            try run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments)
        } else {
            try run(executable, arguments)
        }
    }

    /// Runs `executable` and waits for it (not for what it leaves running). `posix_spawn` and `waitpid`
    /// rather than Foundation's `Process`, whose exit detection on Linux can wait for the server that
    /// `pg_ctl start` leaves behind. Output goes to a file, not a pipe, for the same reason.
    private static func run(_ executable: String, _ arguments: [String]) throws {
        let outputPath = NSTemporaryDirectory() + "switchboard-pg-output-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw StoreError("cannot run \(executable): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // Exited normally (the low 7 bits are 0) with status 0.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw StoreError("\(executable) \(arguments.joined(separator: " ")) failed: \(text)")
        }
    }

    /// A loopback port nothing listens on right now (bind to port 0, read it, close).
    private static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw StoreError("socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw StoreError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw StoreError("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Starts a `PostgresServer` around a suite and stops it after the suite's last test; the suite's tests
/// find it in `PostgresServer.current`.
struct PostgresServerTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try PostgresServer.start()
        defer { server.stop() }
        try await PostgresServer.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == PostgresServerTrait {
    /// A PostgreSQL server for the suite (see `PostgresServer`).
    static var postgresServer: Self { PostgresServerTrait() }
}

/// Two instances sharing one new database of the suite's server (`shared_instances=true`), closed after
/// `body` — the setup every multi-instance suite starts from.
func withTwoInstances(
    _ body: (
        _ a: PostgresStore, _ b: PostgresStore, _ server: PostgresServer, _ configuration: PostgresStoreConfiguration
    )
        async throws -> Void
) async throws {
    let server = try #require(PostgresServer.current)
    let configuration = try server.createDatabase()
    let a = try PostgresSessionOwnershipTests.shared(configuration)
    defer { a.close() }
    let b = try PostgresSessionOwnershipTests.shared(configuration)
    defer { b.close() }
    try await body(a, b, server, configuration)
}
