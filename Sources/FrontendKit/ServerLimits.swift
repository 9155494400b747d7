import NIOCore

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
    /// Memory all history logs may hold, estimated (`BusConfiguration.maxHistoryBytes`, which says why 64 MiB).
    package var maxHistoryBytes = 64 << 20
    /// Record bytes each partition of a `file` stream keeps whole in memory (its newest records) when the
    /// stream names no bound of its own (`BusConfiguration.streamMemoryTailBytes`, which says why 64 MiB);
    /// nil: every record (`"all"`).
    package var streamMemoryTailBytes: Int? = 64 << 20
    /// Records across all collections (each is held in memory with its parsed and encoded forms, ~1 KiB
    /// for a small one): past it a create is refused.
    package var maxRecords = 1_000_000
    /// Largest the SQLite database may grow, in bytes (SQLite's `max_page_count`); 0: no bound but the
    /// disk's. A commit past it fails as on a full disk: durable work is refused with each protocol's code.
    package var maxStoreBytes = 0
    package var rpcMaxTimeoutMilliseconds = 60_000
    package var maxSubscriptionsPerConnection = 1_000
    /// Largest HTTP request body.
    package var maxBodyBytes = 1 << 20
    /// Seconds a new HTTP connection has to send a whole request head (Go's ReadHeaderTimeout; a
    /// slowloris client trickling header bytes is closed after it).
    package var httpRequestTimeoutSeconds = 10
    /// Seconds a keep-alive HTTP connection may sit idle between requests (nginx's keepalive_timeout).
    package var httpKeepAliveSeconds = 75

    package init() {}

    /// The HTTP listeners' request-head and keep-alive deadlines.
    package var httpTimeouts: HTTPServerHandler.Timeouts {
        HTTPServerHandler.Timeouts(
            request: .seconds(Int64(httpRequestTimeoutSeconds)), keepAlive: .seconds(Int64(httpKeepAliveSeconds)))
    }
}
