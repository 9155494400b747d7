package import FrontendKit

/// Settings of the native WebSocket endpoint; every bound has a reason for its default.
package struct NativeWSConfiguration: Sendable {
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
    package var origins = OriginPolicy(allowed: ["*"])

    package init() {}
}
