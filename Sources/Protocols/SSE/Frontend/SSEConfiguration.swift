package import FrontendKit
package import SSEWire

/// Settings of the SSE, realtime and long-polling endpoints (config keys in docs/operations.md).
package struct SSEConfiguration: Sendable {
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
    /// Subscriptions one realtime client may hold.
    package var maxRealtimeSubscriptions = 1_000
    /// Browser origins allowed (CORS and the `Origin` check); `*` allows any.
    package var origins = OriginPolicy(allowed: ["*"])
    package var slowConsumerPolicy: SlowConsumerPolicy = .drop
    package var limits = SSELimits()

    package init() {}
}
