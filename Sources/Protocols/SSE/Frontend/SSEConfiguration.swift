package import FrontendKit
package import SSEWire

/// Settings of the SSE, realtime and long-polling endpoints (config section `sse`; every key is listed
/// by `serve --help` and docs/operations.md from `settings` below).
package struct SSEConfiguration: FrontendSettings {
    /// Seconds between keep-alive comments on an idle stream. Proxies commonly drop a response that is
    /// silent for 30–60 s; 15 s stays well inside that.
    package var keepAliveSeconds = 15
    /// The `retry:` sent on open: how long `EventSource` waits before reconnecting, in milliseconds.
    package var retryMilliseconds = 2_000
    /// How long a poll is held when it names no `timeout`.
    package var pollDefaultTimeoutSeconds = 30
    /// Longest hold a poll may ask for; longer requests are held this long. Every held poll holds a
    /// connection and a subscription, so this bounds what idle pollers cost.
    package var pollMaxTimeoutSeconds = 60
    /// A realtime client that received nothing and changed no subscription for this long is dropped (the
    /// PocketBase behaviour; its `EventSource` reconnects and gets a new client id).
    package var realtimeInactivitySeconds = 300
    /// Browser origins allowed on `/sse`, `/poll` and `/api/realtime` (`sse.allowed_origins`); nil: the
    /// server-wide `allowed_origins`.
    package var allowedOrigins: [String]?
    /// Subscriptions one realtime client may hold (`limits.max_subscriptions_per_connection`).
    package var maxRealtimeSubscriptions = 1_000
    /// Browser origins allowed (CORS and the `Origin` check); `*` allows any. Resolved from
    /// `allowedOrigins` when the frontend is built.
    package var origins = OriginPolicy(allowed: ["*"])
    package var slowConsumerPolicy: SlowConsumerPolicy = .drop
    /// Publisher flow control (`CongestedSubscriber`): a subscriber is behind while its socket is over
    /// `limits.max_outbound_bytes`; it may stay behind 10 s without progress and be given the last quarter of
    /// that limit (at least 4 MiB) more before `slowConsumerPolicy` applies.
    package var congestionBounds = CongestedSubscriber.Bounds.pastHighWaterMark(1 << 20)
    package var limits = SSELimits()

    package init() {}

    package static let settings: [FrontendSetting<SSEConfiguration>] = [
        .integer(
            "keep_alive_seconds", \.keepAliveSeconds, minimum: 1,
            help: "Seconds between keep-alive comments on a stream (inside the 30-60 s proxies allow)."),
        .integer("retry_ms", \.retryMilliseconds, help: "retry: sent on open: the browser's reconnection delay in ms."),
        .integer(
            "poll_default_timeout_seconds", \.pollDefaultTimeoutSeconds,
            help: "Hold of a long poll that names no timeout."),
        .integer(
            "poll_max_timeout_seconds", \.pollMaxTimeoutSeconds, minimum: 1,
            help: "Longest hold a long poll may ask for (each held poll holds a connection)."),
        .integer(
            "realtime_inactivity_seconds", \.realtimeInactivitySeconds, minimum: 1,
            help: "A /api/realtime client with no event and no subscription change for this long is dropped."),
        .strings(
            "allowed_origins", \.allowedOrigins,
            help: "Browser origins allowed on /sse, /poll and /api/realtime (CORS); default: allowed_origins."),
    ]
}
