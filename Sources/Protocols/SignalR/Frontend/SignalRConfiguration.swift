package import FrontendKit

/// Settings of the SignalR hubs (config section `signalr`); every bound has a reason for its default.
/// Connection and subscription bounds are the server-wide `limits.*` keys, copied in when the frontend
/// is built.
package struct SignalRConfiguration: FrontendSettings {
    /// Where the hubs live on the HTTP port: `/hubs/<hub>`.
    package var pathPrefix: String = "/hubs/"
    /// The hubs served (each at `pathPrefix + name`); every hub has the same methods.
    package var hubs: [String]? = ["switchboard"]
    /// Milliseconds between the server's pings when nothing else was sent (ASP.NET Core's
    /// `KeepAliveInterval`).
    package var keepAliveMilliseconds: Int = 15_000
    /// Milliseconds without any message from the client before the server closes the connection
    /// (`ClientTimeoutInterval`).
    package var clientTimeoutMilliseconds: Int = 30_000
    /// Milliseconds a new connection has to send its handshake (`HandshakeTimeout`).
    package var handshakeTimeoutMilliseconds: Int = 15_000
    /// Largest message the client may send, in bytes (`MaximumReceiveMessageSize`).
    package var maxMessageSize: Int = 32 * 1024
    /// Seconds a negotiated connection token stays valid before its transport connects.
    package var negotiateTokenSeconds: Int = 60
    /// Milliseconds a long poll is held when there is nothing to send, then answered empty so the client
    /// polls again (ASP.NET Core's `LongPolling.PollTimeout`).
    package var longPollTimeoutMilliseconds: Int = 90_000
    /// Milliseconds a long-polling connection may go without a poll before it is ended
    /// (`DisconnectTimeout`); long polling's keep-alive is the polls themselves.
    package var disconnectTimeoutMilliseconds: Int = 15_000
    /// Bytes waiting for a long-polling client's next poll before it counts as a slow consumer.
    package var maxPendingBytes: Int = 1 << 20
    /// The channel every connection of an authenticated user joins, `{user}` replaced by its user id
    /// (ASP.NET Core's `Clients.User`): a publish there — `POST /api/publish`, or any protocol allowed
    /// to — reaches all of that user's connections. Empty: none.
    package var userChannel: String = "users/{user}"
    /// Grant stateful reconnect to clients that ask for it at negotiate (`useStatefulReconnect`, ASP.NET
    /// Core 8's `AllowStatefulReconnects`): a dropped WebSocket may reconnect within
    /// `disconnect_timeout_ms` and nothing sent either way is lost or repeated.
    package var statefulReconnect = true
    /// Bytes of unacknowledged messages kept per connection for a replay
    /// (`StatefulReconnectBufferSize`); past it the connection can no longer resume.
    package var statefulReconnectBufferSize: Int = 1 << 20
    /// Serve the test hubs of signalrcore's integration suite (`/chatHub`, `/authHub`,
    /// `/users/authenticate`, `/health`) beside the configured ones: for conformance runs only.
    package var conformanceMode = false
    /// The token `/users/authenticate` hands out in conformance mode (one the authenticator accepts, such
    /// as a static `tokens` entry).
    package var conformanceToken = ""
    /// Groups (subscriptions) per connection; bounds the index growth one client can cause.
    package var maxSubscriptions: Int = 1_000
    package var slowConsumerPolicy: SlowConsumerPolicy = .drop
    /// Publisher flow control (`CongestedSubscriber`): a subscriber is behind while its socket is over
    /// `limits.max_outbound_bytes`; it may stay behind 10 s without progress and be given the last quarter of
    /// that limit (at least 4 MiB) more before `slowConsumerPolicy` applies.
    package var congestionBounds = CongestedSubscriber.Bounds.pastHighWaterMark(1 << 20)
    package var origins = OriginPolicy(allowed: ["*"])
    /// Accept permessage-deflate on the WebSocket transport (off, as ASP.NET Core's default).
    package var webSocketCompression = false

    package init() {}

    package static let settings: [FrontendSetting<SignalRConfiguration>] = [
        .string(
            "path_prefix", \.pathPrefix, help: "Path under which the hubs live (`/hubs/<hub>`).",
            check: { $0.hasPrefix("/") && $0.hasSuffix("/") ? nil : "must start and end with /" }),
        .strings("hubs", \.hubs, help: "Hub names served, each at path_prefix + name."),
        .integer(
            "keep_alive_ms", \.keepAliveMilliseconds, minimum: 100,
            help: "Milliseconds between server pings when idle (ASP.NET Core KeepAliveInterval)."),
        .integer(
            "client_timeout_ms", \.clientTimeoutMilliseconds, minimum: 200,
            help: "Milliseconds without a client message before the connection closes (ClientTimeoutInterval)."),
        .integer(
            "handshake_timeout_ms", \.handshakeTimeoutMilliseconds, minimum: 100,
            help: "Milliseconds a connection has to send its handshake (HandshakeTimeout)."),
        .integer(
            "max_message_size", \.maxMessageSize, minimum: 1_024,
            help: "Largest client message in bytes (MaximumReceiveMessageSize)."),
        .integer(
            "negotiate_token_seconds", \.negotiateTokenSeconds, minimum: 1,
            help: "Seconds a negotiated connection token waits for its transport."),
        .integer(
            "long_poll_timeout_ms", \.longPollTimeoutMilliseconds, minimum: 100,
            help: "Milliseconds a long poll is held with nothing to send before it is answered empty (PollTimeout)."),
        .integer(
            "disconnect_timeout_ms", \.disconnectTimeoutMilliseconds, minimum: 100,
            help: "Milliseconds a long-polling connection may go without a poll before it ends (DisconnectTimeout)."),
        .integer(
            "max_pending_bytes", \.maxPendingBytes, minimum: 65_536,
            help: "Bytes waiting for a long-polling client's next poll before it counts as a slow consumer."),
        .boolean(
            "stateful_reconnect", \.statefulReconnect,
            help: "Grant stateful reconnect to clients that ask (a dropped WebSocket resumes, nothing lost)."),
        .integer(
            "stateful_reconnect_buffer_size", \.statefulReconnectBufferSize, minimum: 4_096,
            help: "Bytes of unacknowledged messages kept per connection for a reconnect's replay."),
        .string(
            "user_channel", \.userChannel,
            help: "Channel each authenticated user's connections join ({user}: the user id); empty: none.",
            check: { $0.isEmpty || $0.contains("{user}") ? nil : "must contain {user}, or be empty" }),
        .webSocketCompression(\.webSocketCompression),
        .boolean(
            "conformance_mode", \.conformanceMode,
            help: "Serve the test hubs signalrcore's integration suite expects (/chatHub, /authHub); tests only."),
        .string(
            "conformance_token", \.conformanceToken,
            help: "The token /users/authenticate hands out in conformance mode (a token the server accepts)."),
    ]

    /// The hub paths served.
    var hubPaths: [String] { (hubs ?? []).map { pathPrefix + $0 } }
}
