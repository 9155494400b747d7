package import FrontendKit
package import NATSWire

/// The NATS frontend's settings (config section `nats`; every key is listed by `serve --help` and
/// docs/operations.md from `settings` below). The port is the generic `nats.port` (4222).
package struct NATSConfiguration: FrontendSettings {
    package var limits = NATSLimits()
    /// `server_name` in INFO.
    package var serverName = "switchboard"
    /// The nats-server version whose client protocol is spoken; clients enable headers and no-responders
    /// from 2.2 on.
    package var protocolVersion = "2.10.0"
    /// The NATS port requires TLS (INFO says `tls_required` and the handshake follows it, the NATS way:
    /// in place on the same port). Needs the `tls` section's certificate.
    package var tlsRequired = false
    /// The monitoring port (nats-server's `-m`/`http_port`): `/varz`, `/connz`, `/subsz`, `/routez`,
    /// `/healthz` over HTTP. nil: none (as nats-server without `-m`); 0: any free port.
    package var monitorPort: Int?
    /// The user (of the `security` section) that a client presenting no credentials becomes, when
    /// anonymous access is off (nats-server's `no_auth_user`). nil: such a client is refused.
    package var noAuthUser: String?
    /// Lame-duck mode (SIGUSR2, or `POST /api/nats/lame_duck`): how long closing every client may take in
    /// all, grace period included. nats-server's `lame_duck_duration` (2 minutes).
    package var lameDuckDurationSeconds = 120
    /// Lame-duck mode: how long clients keep their connection after the `ldm` INFO before the first is
    /// closed, so they can move elsewhere first. nats-server's `lame_duck_grace_period` (10 s).
    package var lameDuckGracePeriodSeconds = 10

    /// How long a subscriber may stay behind (its outbound buffer over 3/4 of `max_pending`, the publishers
    /// that feed it paused) before it is a slow consumer and is closed: nats-server's `write_deadline` (10 s).
    package var writeDeadlineMilliseconds = 10_000

    /// Accept permessage-deflate on the WebSocket endpoint (off, as on `/ws`: CPU per message).
    package var webSocketCompression = false

    /// JetStream's account limits and domain (`jetstream_*` settings).
    package var jetStream = JetStreamAccountLimits()

    package init() {}

    package static let settings: [FrontendSetting<NATSConfiguration>] = [
        .webSocketCompression(\.webSocketCompression),
        .integer(
            "max_payload", \.limits.maxPayload, minimum: 1, help: "Largest message payload in bytes (INFO max_payload)."
        ),
        .integer(
            "max_pending", \.limits.maxPending, minimum: 1,
            help:
                "Outbound bytes queued per connection; past 3/4 its publishers pause; behind past write_deadline_ms or by another 4 MiB (or the last quarter, if more), it is a slow consumer."
        ),
        .integer(
            "write_deadline_ms", \.writeDeadlineMilliseconds, minimum: 1,
            help:
                "How long a subscriber may stay behind, its publishers paused, before it is a slow consumer."
        ),
        .integer("max_control_line", \.limits.maxControlLine, minimum: 64, help: "Longest protocol line in bytes."),
        .integer("max_subscriptions", \.limits.maxSubscriptions, help: "Subscriptions per connection; 0 is no limit."),
        .integer(
            "ping_interval_seconds", \.limits.pingIntervalSeconds, minimum: 1,
            help: "Seconds between server PINGs."),
        .integer(
            "max_pings_out", \.limits.maxPingsOut, minimum: 1, help: "Unanswered PINGs before the connection is closed."
        ),
        .integer(
            "auth_timeout_seconds", \.limits.authTimeoutSeconds, minimum: 1,
            help: "Seconds a client has to send CONNECT when credentials are required."),
        .string("server_name", \.serverName, help: "server_name in INFO."),
        .boolean(
            "tls", \.tlsRequired,
            help: "The port requires TLS, upgraded in place the NATS way (needs the tls section; legacy tls.nats)."),
        .port(
            "monitor_port", \.monitorPort,
            help:
                "Monitoring HTTP port (nats-server -m): /varz, /connz, /subsz, /routez, /healthz; off: none; 0: any free port."
        ),
        .string(
            "no_auth_user", \.noAuthUser,
            help: "A user of the security section that clients without credentials become (nats-server no_auth_user)."),
        .integer(
            "lame_duck_duration_seconds", \.lameDuckDurationSeconds, minimum: 1,
            help: "Lame-duck mode (SIGUSR2): seconds over which every client is closed, grace period included."),
        .integer(
            "lame_duck_grace_period_seconds", \.lameDuckGracePeriodSeconds,
            help: "Lame-duck mode: seconds between the ldm INFO and the first client closed."),
        .string(
            "jetstream_domain", \.jetStream.domain,
            help: "JetStream domain: the API answers on $JS.<domain>.API.> too (nats-server jetstream.domain)."),
        .integer(
            "jetstream_max_memory", \.jetStream.maxMemory, minimum: -1,
            help: "Bytes of memory streams (their max_bytes reserved); -1: no limit (nats-server max_mem)."),
        .integer(
            "jetstream_max_storage", \.jetStream.maxStorage, minimum: -1,
            help: "Bytes of file streams (their max_bytes reserved); -1: no limit (nats-server max_file)."),
        .integer("jetstream_max_streams", \.jetStream.maxStreams, minimum: -1, help: "Most streams; -1: no limit."),
        .integer(
            "jetstream_max_consumers", \.jetStream.maxConsumers, minimum: -1, help: "Most consumers; -1: no limit."),
        .integer(
            "jetstream_max_ack_pending", \.jetStream.maxAckPending, minimum: -1,
            help: "A consumer's max_ack_pending default and most; -1: no limit."),
        .integer(
            "jetstream_memory_max_stream_bytes", \.jetStream.memoryMaxStreamBytes, minimum: -1,
            help: "Most max_bytes of one memory stream; -1: no limit."),
        .integer(
            "jetstream_storage_max_stream_bytes", \.jetStream.storageMaxStreamBytes, minimum: -1,
            help: "Most max_bytes of one file stream; -1: no limit (nats-server store_max_stream_bytes)."),
        .boolean(
            "jetstream_max_bytes_required", \.jetStream.maxBytesRequired,
            help: "Every stream must set max_bytes (nats-server max_stream_bytes / max_bytes_required)."),
    ]

    package func validate() throws(FrontendSettingError) {
        guard limits.maxPending >= limits.maxPayload else {
            throw FrontendSettingError("max_pending must be at least max_payload")
        }
        guard lameDuckGracePeriodSeconds < lameDuckDurationSeconds else {
            throw FrontendSettingError("lame_duck_grace_period_seconds must be less than lame_duck_duration_seconds")
        }
    }
}
