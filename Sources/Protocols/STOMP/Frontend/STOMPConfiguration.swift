package import FrontendKit
package import STOMPWire

/// The STOMP frontend's settings (config section `stomp`; `serve --help` and docs/operations.md list
/// them from `settings`). The ports are the generic `stomp.port` (61613) and `stomp.tls_port`
/// (61614 by convention).
package struct STOMPConfiguration: FrontendSettings {
    package var limits = STOMPLimits()
    /// Outbound bytes queued per connection. Past 3/4 of it a `/topic/` subscriber is behind and the
    /// connections publishing what it is given stop being read (publisher flow control); given another
    /// `CongestedSubscriber.Bounds.slack` while behind (the last quarter, at least 4 MiB), or behind for
    /// longer than `writeDeadlineMilliseconds`, it is a slow consumer: ERROR and close.
    package var maxPendingBytes = 4 << 20
    /// How long a subscriber may stay behind, its publishers paused, before it is a slow consumer:
    /// nats-server's `write_deadline` (10 s).
    package var writeDeadlineMilliseconds = CongestedSubscriber.Bounds.defaultDeadlineMilliseconds
    /// Seconds a connection may stay without sending CONNECT.
    package var connectTimeoutSeconds = 10

    /// Accept permessage-deflate on the WebSocket endpoint (off, as on `/ws`: CPU per message).
    package var webSocketCompression = false

    package init() {}

    package static let settings: [FrontendSetting<STOMPConfiguration>] = [
        .webSocketCompression(\.webSocketCompression),
        .integer(
            "max_headers", \.limits.maxHeaders, minimum: 1,
            help: "Most headers in one frame (RabbitMQ's stomp.max_headers)."),
        .integer(
            "max_header_bytes", \.limits.maxHeaderBytes, minimum: 256,
            help: "Longest command and header lines of one frame, in bytes (stomp.max_header_length)."),
        .integer(
            "max_body_bytes", \.limits.maxBodyBytes, minimum: 1,
            help: "Largest frame body in bytes (stomp.max_body_length)."),
        .integer(
            "min_heartbeat_ms", \.limits.minHeartBeatMilliseconds, minimum: 250,
            help: "Shortest heart-beat interval agreed either way, in milliseconds."),
        .integer(
            "max_pending_bytes", \.maxPendingBytes, minimum: 65_536,
            help:
                "Outbound bytes queued per connection; past 3/4 its publishers pause; behind past write_deadline_ms or by another 4 MiB (or the last quarter, if more), it is disconnected as a slow consumer."
        ),
        .integer(
            "write_deadline_ms", \.writeDeadlineMilliseconds, minimum: 1,
            help: "How long a subscriber may stay behind, its publishers paused, before it is a slow consumer."),
        .integer(
            "connect_timeout_seconds", \.connectTimeoutSeconds, minimum: 1,
            help: "Seconds a connection may stay without sending CONNECT."),
    ]
}
