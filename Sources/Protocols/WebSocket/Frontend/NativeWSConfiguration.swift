package import FrontendKit

/// Settings of the native WebSocket endpoint (config section `websocket`); every bound has a reason for
/// its default. The frame, subscription, ping and timeout bounds are the server-wide `limits.*` keys,
/// copied in when the frontend is built.
package struct NativeWSConfiguration: FrontendSettings {
    /// Where the endpoint answers on the HTTP port.
    package var path: String = "/ws"
    /// Largest frame or reassembled message; larger closes with 1009. 64 KiB fits any chat/event message
    /// while bounding what one client can make us buffer.
    package var maxFrameBytes: Int = 65_536
    /// Subscriptions per connection; bounds the index growth one client can cause.
    package var maxSubscriptions: Int = 1_000
    /// Seconds between server pings (also told to clients in `connected`).
    package var pingIntervalSeconds: Int = 25
    /// Seconds to wait for any frame after a ping before closing.
    package var pongTimeoutSeconds: Int = 10
    /// Seconds a client has to authenticate with `connect` when anonymous access is off.
    package var connectTimeoutSeconds: Int = 10
    /// RPC timeout when the request names none, and the largest it may name.
    package var defaultRPCTimeoutMilliseconds: Int = 5_000
    package var maxRPCTimeoutMilliseconds: Int = 60_000
    /// History returned when a `history` request names no limit.
    package var defaultHistoryLimit: Int = 100
    package var slowConsumerPolicy: SlowConsumerPolicy = .drop
    /// Publisher flow control (`CongestedSubscriber`): a subscriber is behind while its socket is over
    /// `limits.max_outbound_bytes`; it may stay behind 10 s without progress and be given the last quarter of
    /// that limit (at least 4 MiB) more before `slowConsumerPolicy` applies.
    package var congestionBounds = CongestedSubscriber.Bounds.pastHighWaterMark(1 << 20)
    package var origins = OriginPolicy(allowed: ["*"])
    /// Accept permessage-deflate (RFC 7692) when a client offers it. Off by default, as in nats-server and
    /// Centrifugo: it costs CPU per message sent (once per message and loop, the compressed frame is
    /// shared) and per compressed message received, for bandwidth that small JSON messages hardly save.
    package var compression = false

    /// What the endpoint offers when `compression` is on.
    package var compressionParameters: WebSocketCompression? { compression ? WebSocketCompression() : nil }

    package init() {}

    package static let settings: [FrontendSetting<NativeWSConfiguration>] = [
        .string(
            "path", \.path, help: "Path of the native WebSocket endpoint.",
            check: { $0.hasPrefix("/") ? nil : "must start with /" }),
        .integer(
            "default_rpc_timeout_ms", \.defaultRPCTimeoutMilliseconds, minimum: 1,
            help: "RPC timeout when a request names none (at most limits.rpc_max_timeout_ms)."),
        .integer(
            "default_history_limit", \.defaultHistoryLimit, minimum: 1,
            help: "Messages a history request returns when it names no limit."),
        .boolean(
            "compression", \.compression,
            help:
                "Accept permessage-deflate (RFC 7692) offers, without context takeover so a fanned-out message is compressed once; off: costs CPU per message."
        ),
    ]
}
