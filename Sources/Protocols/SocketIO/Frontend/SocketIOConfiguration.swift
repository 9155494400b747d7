package import FrontendKit

/// Settings of the Socket.IO endpoint (config section `socketio`); every bound has a reason for its
/// default. Connection, subscription and RPC bounds are the server-wide `limits.*` keys, copied in when
/// the frontend is built.
package struct SocketIOConfiguration: FrontendSettings {
    /// Where Engine.IO answers on the HTTP port (socket.io-client's `path`).
    package var path: String = "/socket.io/"
    /// Milliseconds between the server's pings (the handshake's `pingInterval`; the reference default).
    package var pingIntervalMilliseconds: Int = 25_000
    /// Milliseconds a client has to answer a ping before the session closes (`pingTimeout`).
    package var pingTimeoutMilliseconds: Int = 20_000
    /// Largest polling payload or WebSocket message, in bytes (`maxPayload`).
    package var maxPayload: Int = 1_000_000
    /// Milliseconds an Engine.IO session has to connect a namespace before it is closed (the reference
    /// server's `connectTimeout`).
    package var connectTimeoutMilliseconds: Int = 45_000
    /// Seconds a disconnected socket's state (id, rooms, position) is kept for connection state recovery
    /// (socket.io's `maxDisconnectionDuration`); 0 turns recovery off.
    package var recoverySeconds: Int = 120
    /// Deliveries a socket remembers for recovery (which room it had reached at each offset).
    package var recoveryBuffer: Int = 1_024
    /// Namespaces clients may connect; nil or `*` allows any. Each namespace `/n` is the channel prefix `n/`.
    package var namespaces: [String]?
    /// Rooms (subscriptions) per socket; bounds the index growth one client can cause.
    package var maxSubscriptions: Int = 1_000
    package var defaultRPCTimeoutMilliseconds: Int = 5_000
    package var maxRPCTimeoutMilliseconds: Int = 60_000
    /// History returned when a `history` request names no limit.
    package var defaultHistoryLimit: Int = 100
    /// Bytes a polling session may have waiting for its next poll before the slow-consumer policy applies.
    package var maxBufferedBytes: Int = 4 << 20
    package var slowConsumerPolicy: SlowConsumerPolicy = .drop
    /// Publisher flow control (`CongestedSubscriber`): a subscriber is behind while its socket is over
    /// `limits.max_outbound_bytes`; it may stay behind 10 s without progress and be given the last quarter of
    /// that limit (at least 4 MiB) more before `slowConsumerPolicy` applies.
    package var congestionBounds = CongestedSubscriber.Bounds.pastHighWaterMark(1 << 20)
    package var origins = OriginPolicy(allowed: ["*"])
    /// The behaviour the socketio/engine.io-protocol and socket.io-protocol test suites expect of the
    /// server under test (an echo hub): see docs/protocols/socketio.md. Off in production.
    package var conformanceMode = false
    /// Accept permessage-deflate on the WebSocket transport (off, as on `/ws` and the Node server).
    package var webSocketCompression = false

    package init() {}

    package static let settings: [FrontendSetting<SocketIOConfiguration>] = [
        .string(
            "path", \.path, help: "Path of the Engine.IO endpoint (socket.io-client's `path`).",
            check: { $0.hasPrefix("/") ? nil : "must start with /" }),
        .integer(
            "ping_interval_ms", \.pingIntervalMilliseconds, minimum: 50,
            help: "Milliseconds between server pings (Engine.IO pingInterval)."),
        .integer(
            "ping_timeout_ms", \.pingTimeoutMilliseconds, minimum: 50,
            help: "Milliseconds a client has to answer a ping (Engine.IO pingTimeout)."),
        .integer(
            "max_payload", \.maxPayload, minimum: 1_024,
            help: "Largest polling payload or WebSocket message in bytes (Engine.IO maxPayload)."),
        .integer(
            "connect_timeout_ms", \.connectTimeoutMilliseconds, minimum: 50,
            help: "Milliseconds a session has to connect a namespace before it is closed."),
        .integer(
            "recovery_seconds", \.recoverySeconds, minimum: 0,
            help: "Seconds a dropped socket can recover its id, rooms and missed events (0: no recovery)."),
        .integer(
            "recovery_buffer", \.recoveryBuffer, minimum: 1,
            help: "Deliveries a socket remembers to know each room's position at any offset it was sent."),
        .strings("namespaces", \.namespaces, help: "Namespaces clients may connect (`*`: any)."),
        .integer(
            "default_history_limit", \.defaultHistoryLimit, minimum: 1,
            help: "Messages a history request returns when it names no limit."),
        .integer(
            "max_buffered_bytes", \.maxBufferedBytes, minimum: 1_024,
            help: "Bytes a polling session may hold for its next poll before the slow-consumer policy applies."),
        .webSocketCompression(\.webSocketCompression),
        .boolean(
            "conformance_mode", \.conformanceMode,
            help: "Serve the echo hub the Engine.IO/Socket.IO protocol test suites expect (also at /engine.io/)."),
    ]

    /// Whether clients may connect `namespace`.
    package func allows(namespace: String) -> Bool {
        if conformanceMode { return namespace == "/" || namespace == "/custom" }
        guard let namespaces else { return true }
        return namespaces.contains("*") || namespaces.contains(namespace)
    }
}
