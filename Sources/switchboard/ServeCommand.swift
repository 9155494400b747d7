import ArgumentParser
import Foundation
import Logging
import ServerApp

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Run the server. With no options: HTTP on 8080 (/api, /metrics and the HTTP frontends), \(FrontendList.defaultListeners), data under ./data.",
        discussion: """
            Precedence: flags, then SWITCHBOARD_* environment variables, then the --config file (JSON), then defaults.
            Environment: SWITCHBOARD_HOST, SWITCHBOARD_HTTP_PORT, SWITCHBOARD_CONFIG, SWITCHBOARD_DATA_DIR,
            SWITCHBOARD_API_KEY, SWITCHBOARD_LOG_LEVEL, SWITCHBOARD_THREADS, SWITCHBOARD_HISTORY (rules separated by ';'),
            SWITCHBOARD_PRESENCE (filters separated by ';'), and SWITCHBOARD_<FRONTEND>_<KEY> for every frontend key below.
            The config file's keys are listed in docs/operations.md.

            Frontends (config section NAME: {KEY: VALUE}; --set NAME.KEY=VALUE; --port NAME=PORT|off; --disable NAME):

            \(FrontendList.helpText)
            """)

    @Option(help: "Address to listen on (env SWITCHBOARD_HOST, config host).")
    var host: String?

    @Option(
        name: .customLong("http-port"),
        help: "HTTP port: /ws, /api, /metrics (env SWITCHBOARD_HTTP_PORT, config http_port; default 8080).")
    var httpPort: Int?

    @Option(
        name: .customLong("port"),
        help:
            "A frontend's TCP port: NAME=PORT, or NAME=off for no TCP listener (e.g. mqtt=1883, nats=off). Repeatable.")
    var ports: [String] = []

    @Option(
        name: .customLong("tls-port"),
        help: "A frontend's TLS listener: NAME=PORT (needs the tls section; e.g. mqtt=8883). Repeatable.")
    var tlsPorts: [String] = []

    @Option(name: .customLong("disable"), help: "Do not start frontend NAME at all (e.g. nats). Repeatable.")
    var disabled: [String] = []

    @Option(name: .customLong("enable"), help: "Start frontend NAME even if the config file disables it. Repeatable.")
    var enabled: [String] = []

    @Option(
        name: .customLong("set"),
        help: "Any frontend key: NAME.KEY=VALUE (e.g. mqtt.max_packet_size=65536); keys are listed below. Repeatable.")
    var settings: [String] = []

    @Option(name: .customLong("mqtt-port"), help: ArgumentHelp("Same as --port mqtt=PORT.", visibility: .hidden))
    var mqttPort: Int?

    @Option(name: .customLong("nats-port"), help: ArgumentHelp("Same as --port nats=PORT|off.", visibility: .hidden))
    var natsPort: String?

    @Option(help: "JSON config file (env SWITCHBOARD_CONFIG).")
    var config: String?

    @Option(
        name: .customLong("data-dir"),
        help: "Directory for durable data (env SWITCHBOARD_DATA_DIR, config data_dir; default ./data).")
    var dataDir: String?

    @Option(name: .customLong("api-key"), help: "Require this key on /api/* (env SWITCHBOARD_API_KEY, config api_key).")
    var apiKey: String?

    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error, critical (env SWITCHBOARD_LOG_LEVEL).")
    var logLevel: String?

    @Option(help: "Event loop threads (env SWITCHBOARD_THREADS, config threads; default: one per core).")
    var threads: Int?

    @Option(
        name: .customLong("ws-echo-path"),
        help: "Serve a WebSocket echo endpoint at PATH (conformance testing with Autobahn; off by default).")
    var wsEchoPath: String?

    @Option(
        name: .customLong("history"),
        help:
            "Keep history: 'FILTER=COUNT[,AGE][,BYTES]', e.g. 'chat/#=100,10m'; 'none' keeps none. Replaces the default '#=100,2m'. Repeatable."
    )
    var history: [String] = []

    @Option(
        name: .customLong("durable-history"),
        help:
            "Keep durable history (in the store; survives restarts): 'FILTER=COUNT[,AGE][,BYTES]', e.g. 'orders/#=10000,7d'. Replaces the default history rule. Repeatable."
    )
    var durableHistory: [String] = []

    @Option(
        help:
            "Where durable state lives: sqlite (default, <data-dir>/switchboard.sqlite), memory, or postgres://USER@HOST:PORT/DB[?password_file=PATH] (env SWITCHBOARD_STORAGE)."
    )
    var storage: String?

    @Option(
        help:
            "Join other instances through Redis: redis://[USER:PASSWORD@]HOST:PORT[/DB], rediss://…, redis-sentinel://HOST:PORT[,HOST:PORT…]/MASTER[/DB] or rediss-sentinel://…; ?password_file=, ssl_ca_certs=, sentinel_password_file=… (env SWITCHBOARD_ENGINE; docs/redis.md)."
    )
    var engine: String?

    @Option(
        help:
            "HOST[:PORT] the other instances reach this one's HTTP port at (behind NAT or in containers; default: the bound address, or the host name when bound to 0.0.0.0) (env SWITCHBOARD_ENGINE_ADVERTISE)."
    )
    var engineAdvertise: String?

    @Option(
        help:
            "Most bytes of publications kept while Redis is unreachable, sent when it is back; beyond it the oldest are dropped and counted (default 67108864 = 64 MiB; env SWITCHBOARD_ENGINE_MAX_BACKLOG_BYTES)."
    )
    var engineMaxBacklogBytes: String?

    @Option(
        help:
            "fsync (default: each group commit is fsynced) or no-fsync (faster; survives kill -9, not power loss) (env SWITCHBOARD_DURABILITY)."
    )
    var durability: String?

    @Option(
        name: .customLong("presence"),
        help:
            "Track presence on channels matching FILTER and announce joins and leaves; 'none' tracks none. Replaces the default (every channel listed, nothing announced). Repeatable."
    )
    var presence: [String] = []

    @Option(
        name: .customLong("sse-keep-alive"),
        help: ArgumentHelp("Same as --set sse.keep_alive_seconds=N.", visibility: .hidden))
    var sseKeepAlive: Int?

    @Option(
        name: .customLong("poll-max-timeout"),
        help: ArgumentHelp("Same as --set sse.poll_max_timeout_seconds=N.", visibility: .hidden))
    var pollMaxTimeout: Int?

    @Option(
        name: .customLong("realtime-inactivity"),
        help: ArgumentHelp("Same as --set sse.realtime_inactivity_seconds=N.", visibility: .hidden))
    var realtimeInactivity: Int?

    func run() async throws {
        AllocatorTuning.applyByExecutingAgain()
        var overrides = ConfigurationOverrides()
        overrides.host = host
        overrides.httpPort = httpPort
        // Today's spellings first, so the generic flags given beside them win.
        overrides.ports = (mqttPort.map { ["mqtt=\($0)"] } ?? []) + (natsPort.map { ["nats=\($0)"] } ?? []) + ports
        overrides.tlsPorts = tlsPorts
        overrides.disabled = disabled
        overrides.enabled = enabled
        overrides.settings =
            [
                sseKeepAlive.map { "sse.keep_alive_seconds=\($0)" },
                pollMaxTimeout.map { "sse.poll_max_timeout_seconds=\($0)" },
                realtimeInactivity.map { "sse.realtime_inactivity_seconds=\($0)" },
            ].compactMap { $0 } + settings
        overrides.configFile = config
        overrides.dataDirectory = dataDir
        overrides.apiKey = apiKey
        overrides.logLevel = logLevel
        overrides.threads = threads
        overrides.webSocketEchoPath = wsEchoPath
        overrides.history = history
        overrides.durableHistory = durableHistory
        overrides.storage = storage
        overrides.engine = engine
        overrides.engineAdvertise = engineAdvertise
        overrides.engineMaxBacklogBytes = engineMaxBacklogBytes
        overrides.durability = durability
        overrides.presence = presence
        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration.load(overrides: overrides)
        } catch {
            throw ValidationError("\(error)")
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "switchboard")
        let security: ServerSecurity
        do { security = try await ServerSecurity.load(configuration) } catch { throw ValidationError("\(error)") }
        let store = try SwitchboardServer.openStore(configuration, logger: logger)
        let server: SwitchboardServer
        do {
            server = try SwitchboardServer(
                configuration: configuration, logger: logger, store: store, security: security)
        } catch let error as ConfigurationError {
            // A frontend refused its settings (e.g. a tls_port without a certificate): exit 64 as for any.
            throw ValidationError("\(error)")
        }
        try await server.run()
    }
}
