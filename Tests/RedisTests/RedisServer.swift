import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// A `redis-server` of the tests' own, on a free loopback port (never 6379), with no persistence
/// (`--save '' --appendonly no`), killed by `kill()` or `stop()` and startable again on the same port, as
/// the reconnect tests need; with `tls`, it listens with TLS only, on a certificate for `localhost` that
/// `openssl` makes (`certificatePath` is also its trust root). Binary: `SWITCHBOARD_REDIS_SERVER`, else `redis-server` from Debian's
/// `redis-server` package.
final class RedisServer: Sendable {
    let port: Int
    let password: String?
    let tls: Bool
    /// With `tls`: clients must present a certificate chaining to `certificatePath` (`tls-auth-clients yes`).
    let clientCertificates: Bool
    let binary: String
    let directory: String
    /// More `redis-server` arguments (a cluster node's).
    let extraArguments: [String]
    private let process = ProcessID()

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private init(
        port: Int, password: String?, tls: Bool, clientCertificates: Bool, binary: String, directory: String,
        extraArguments: [String]
    ) {
        self.extraArguments = extraArguments
        self.port = port
        self.password = password
        self.tls = tls
        self.clientCertificates = clientCertificates
        self.binary = binary
        self.directory = directory
    }

    /// The self-signed certificate of a `tls` server (its own root, so a client may present it too).
    var certificatePath: String { directory + "/cert.pem" }
    /// Its key.
    var keyPath: String { directory + "/key.pem" }

    /// Starts a server; `password` sets `requirepass`, `tls` makes it a TLS-only server, and
    /// `clientCertificates` makes it ask clients for a certificate.
    static func start(
        password: String? = nil, tls: Bool = false, clientCertificates: Bool = false, extraArguments: [String] = []
    ) throws -> RedisServer {
        let binary = ProcessInfo.processInfo.environment["SWITCHBOARD_REDIS_SERVER"] ?? "/usr/bin/redis-server"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw Failure("no \(binary) (apt-get install redis-server) and SWITCHBOARD_REDIS_SERVER is not set")
        }
        let directory = NSTemporaryDirectory() + "switchboard-redis-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if tls {
            try run(
                "/usr/bin/openssl",
                [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", directory + "/key.pem",
                    "-out", directory + "/cert.pem",
                ])
        }
        // A port found free can be taken before the server binds it: try a few.
        var lastError: (any Error)?
        for _ in 0..<5 {
            let server = RedisServer(
                port: try freeLoopbackPort(), password: password, tls: tls, clientCertificates: clientCertificates,
                binary: binary, directory: directory, extraArguments: extraArguments)
            do {
                try server.restart()
                return server
            } catch {
                lastError = error
            }
        }
        throw lastError ?? Failure("redis-server did not start")
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    func restart() throws {
        let ports =
            tls
            ? [
                "--port", "0", "--tls-port", String(port), "--tls-cert-file", certificatePath, "--tls-key-file",
                directory + "/key.pem", "--tls-ca-cert-file", certificatePath, "--tls-auth-clients",
                clientCertificates ? "yes" : "no",
            ] : ["--port", String(port)]
        var arguments =
            [binary] + ports + [
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                directory, "--logfile", directory + "/server.log", "--daemonize", "no",
            ]
        if let password { arguments += ["--requirepass", password] }
        arguments += extraArguments
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        // Ours is ready when its own log says so: while it was down another test's server may have been
        // given this port, and answering on the port alone would be that one (seen: a client reconnected
        // to it and lost it when that test killed it).
        let logPath = directory + "/server.log"
        try? FileManager.default.removeItem(atPath: logPath)
        var pid = pid_t()
        let spawned = posix_spawn(&pid, binary, nil, nil, argv, environ)
        guard spawned == 0 else { throw Failure("cannot run \(binary): error \(spawned)") }
        process.set(pid)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                process.set(nil)
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw Failure("redis-server exited: \(log)")
            }
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if log.contains("Ready to accept connections") && Self.accepts(port: port) { return }
            usleep(20_000)
        }
        kill()
        throw Failure("redis-server did not accept connections on \(port)")
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    func kill() {
        guard let pid = process.take() else { return }
        _ = Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }

    /// Kills the server and deletes its directory.
    func stop() {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `executable` to its end; output goes to /dev/null.
    private static func run(_ executable: String, _ arguments: [String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid = pid_t()
        guard posix_spawn(&pid, executable, &actions, nil, argv, environ) == 0 else {
            throw Failure("cannot run \(executable)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else { throw Failure("\(executable) \(arguments.joined(separator: " ")) failed") }
    }

    /// Whether something accepts TCP connections on the loopback `port`.
    private static func accepts(port: Int) -> Bool {
        guard
            let channel = try? ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).wait()
        else { return false }
        try? channel.close().wait()
        return true
    }

    /// A loopback port nothing listens on right now (bind to port 0, read it, close).
    static func freeLoopbackPort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress?.port
        try channel.close().wait()
        guard let port else { throw Failure("no port bound") }
        // Never Redis's own port, whatever the kernel hands out.
        return port == 6379 ? try freeLoopbackPort() : port
    }
}

/// The server process's id, behind a lock: tests kill and restart from any thread.
private final class ProcessID: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: pid_t?

    func set(_ pid: pid_t?) { lock.withLock { self.pid = pid } }

    func take() -> pid_t? {
        lock.withLock {
            defer { pid = nil }
            return pid
        }
    }
}
