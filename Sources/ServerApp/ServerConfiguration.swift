package import BusCore
package import FrontendKit
package import Logging
package import MQTTFrontend
package import NATSFrontend
import NATSWire
import NIOCore
package import SecurityKit
package import Storage

/// Which `Store` implementation keeps durable state.
package enum StorageKind: String, Sendable {
    case sqlite
    case memory
}

/// Everything `switchboard serve` can be told. Defaults are DESIGN.md §7's embedded defaults.
package struct ServerConfiguration: Sendable {
    package var host = "0.0.0.0"
    package var httpPort = 8080
    package var dataDirectory = "./data"
    /// Where durable state lives: `sqlite` (`<data dir>/switchboard.sqlite`, the default) or `memory`
    /// (nothing survives the process; for tests and throwaway runs).
    package var storage = StorageKind.sqlite
    /// Whether each group commit is fsynced (`fsync`, default) or not (`no-fsync`: survives kill -9, not
    /// power loss).
    package var durability = StoreDurability.fsync
    /// When set, `/api/*` requires `Authorization: Bearer <key>` or `X-API-Key: <key>`.
    package var apiKey: String?
    package var anonymous = true
    /// Static bearer tokens → user ids.
    package var tokens: [String: String] = [:]
    package var history: [HistoryPolicy.Rule] = []
    package var presence: [TopicFilter] = []
    package var allowedOrigins: [String] = ["*"]
    package var limits = ServerLimits()
    /// Server-Sent Events, realtime and long polling (config key `sse`).
    package var sse = SSESettings()
    package var logLevel: Logger.Level = .info
    /// Path of the WebSocket echo endpoint used by conformance suites (Autobahn); nil (off) by default.
    package var webSocketEchoPath: String?
    /// The MQTT frontend: TCP port (`--mqtt-port`, default 1883), `/mqtt` over WebSocket, limits.
    package var mqtt = MQTTConfiguration()
    /// The NATS client port and limits (`nats` in the config file); `natsEnabled` false closes the port.
    package var nats = NATSConfiguration()
    package var natsEnabled = true
    /// Users, roles, permissions and JWT keys (config key `security`; docs/security.md).
    package var security = SecuritySettings()
    /// Certificates and the TLS listeners (config key `tls`; docs/security.md).
    package var tls: TLSSettings?
    /// Event loop threads; defaults to one per core.
    package var eventLoopThreads: Int = System.coreCount

    package init() {}

    /// The MQTT settings, listening on the server's `host`.
    var mqttWithHost: MQTTConfiguration {
        var mqtt = self.mqtt
        mqtt.host = host
        return mqtt
    }
}

/// Named limits (config key `limits`), each with the reason for its default.
package struct ServerLimits: Sendable {
    /// Connections across all protocols. Past 100k a single process should be sharded anyway.
    package var maxConnections = 100_000
    /// Connections from one IP address across protocols (`max_connections_per_ip`); 0, the default,
    /// is no limit (clients behind one NAT or proxy would share it).
    package var maxConnectionsPerAddress = 0
    /// New connections per second, server-wide (`max_connects_per_second`); 0, the default, is no
    /// limit. Bounds the CPU a reconnect storm or a password guesser can take (TLS and PBKDF2 are slow).
    package var maxConnectsPerSecond = 0
    /// Largest WebSocket frame or message.
    package var maxFrameBytes = 65_536
    /// Outbound bytes queued per connection before it is a slow consumer (1 MiB ≈ 10k small messages).
    package var maxOutboundBytes = 1 << 20
    package var slowConsumer = SlowConsumerPolicy.drop
    package var pingIntervalSeconds = 25
    package var pongTimeoutSeconds = 10
    /// Seconds a WebSocket client has to authenticate when anonymous access is off.
    package var connectTimeoutSeconds = 10
    /// Topics with a history log; past it new topics keep none (each log costs memory even when empty).
    package var maxHistoryTopics = 100_000
    package var rpcMaxTimeoutMilliseconds = 60_000
    package var maxSubscriptionsPerConnection = 1_000
    /// Largest HTTP request body.
    package var maxBodyBytes = 1 << 20

    package init() {}
}
