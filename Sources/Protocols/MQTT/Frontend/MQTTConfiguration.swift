package import FrontendKit
package import MQTTWire

/// The MQTT frontend's settings (config section `mqtt`), each with the reason for its default; every key
/// is listed by `serve --help` and docs/operations.md from `settings` below. The ports are the generic
/// `mqtt.port` (1883) and `mqtt.tls_port` (8883 by convention).
package struct MQTTConfiguration: FrontendSettings {
    /// Path of MQTT over WebSocket on the HTTP port.
    package var webSocketPath: String = "/mqtt"
    package var limits = MQTTLimits()
    package var settings = MQTTServerSettings()
    /// Seconds a socket may stay open without a CONNECT.
    package var connectTimeoutSeconds: Int = 10
    /// Seconds a TCP connection the server closes (after DISCONNECT or a refusing CONNACK) stays
    /// half-open, reading and dropping input, so the client can read the reason before the socket goes;
    /// the client's own close ends it sooner. 2 s covers a client draining a window of acknowledgements
    /// and bounds what a misbehaving one can hold; 0 closes at once.
    package var closeLingerSeconds: Int = 2
    /// Outbound bytes buffered per connection. Past 3/4 of it a subscriber is behind: the connections
    /// publishing what it is given stop being read (publisher flow control) and QoS 1/2 wait in its queue;
    /// given another `CongestedSubscriber.Bounds.slack` while behind (the last quarter, at least 4 MiB), or
    /// behind for longer than `writeDeadlineMilliseconds`, QoS 0 to it is dropped (counted in
    /// `switchboard_messages_dropped_total`) and its publishers go on until it drains.
    package var maxOutboundBytes: Int = 1 << 20
    /// How long a subscriber may stay behind, its publishers paused, before QoS 0 to it is dropped:
    /// nats-server's `write_deadline` (10 s).
    package var writeDeadlineMilliseconds = CongestedSubscriber.Bounds.defaultDeadlineMilliseconds
    /// Seconds between `$SYS/` statistics publications; 0 turns them off.
    package var sysIntervalSeconds: Int = 10
    /// One PUBLISH for a message that matches several of a client's subscriptions, at their highest
    /// QoS and with every subscription identifier ([MQTT-3.3.4-2], [MQTT-3.3.4-4]) — HiveMQ's and the
    /// Paho test broker's choice — instead of one per subscription (mosquitto's, and the default: it
    /// costs a scan of the client's subscriptions per message once it has more than one).
    package var singleCopyForOverlaps = false

    /// Accept permessage-deflate on the WebSocket endpoint (off, as on `/ws`: CPU per message).
    package var webSocketCompression = false

    package init() {}

    package static let settings: [FrontendSetting<MQTTConfiguration>] = [
        .webSocketCompression(\.webSocketCompression),
        .string(
            "websocket_path", \.webSocketPath, help: "Path of MQTT over WebSocket on the HTTP port.",
            check: { $0.hasPrefix("/") ? nil : "must start with /" }),
        .integer(
            "max_packet_size", \.limits.maxPacketSize, minimum: 64,
            help: "Largest packet accepted (DISCONNECT 0x95 beyond); told to 5.0 clients as Maximum Packet Size."),
        .integer(
            "receive_maximum", \.settings.receiveMaximum, minimum: 1,
            help: "Unreleased inbound QoS 2 publications per connection (0x93 beyond); CONNACK Receive Maximum."),
        .integer(
            "topic_alias_maximum", \.settings.topicAliasMaximum,
            help: "Topic aliases a client may use (CONNACK Topic Alias Maximum); 0 turns them off."),
        .integer(
            "max_queued_messages", \.settings.maxQueuedMessages,
            help: "QoS 1/2 messages kept per session while offline or past the client's window."),
        .integer(
            "max_session_expiry_seconds", \.settings.maxSessionExpirySeconds,
            help: "Longest session expiry granted."),
        FrontendSetting(
            "max_keep_alive_seconds", kind: .integer,
            help: "When set, 5.0 clients asking for more (or 0) get this as Server Keep Alive; 0: not set.",
            apply: { settings, value throws(FrontendSettingError) in
                guard case .integer(let seconds) = value, let narrow = UInt16(exactly: seconds) else {
                    throw FrontendSettingError("must be an integer from 0 to 65535")
                }
                settings.settings.maxKeepAliveSeconds = narrow == 0 ? nil : narrow
            },
            describe: { "\($0.settings.maxKeepAliveSeconds ?? 0)" }),
        .string(
            "response_information_prefix", \.settings.responseInformationPrefix,
            help: "5.0 clients that request it get this + their client id as Response Information; empty: never."),
        .string(
            "server_reference", \.settings.serverReference,
            help: "When set, 5.0 clients get DISCONNECT 0x9C with this Server Reference on shutdown instead of 0x8B."),
        .integer(
            "connect_timeout_seconds", \.connectTimeoutSeconds, minimum: 1,
            help: "Seconds a socket may stay open without a CONNECT."),
        .integer(
            "close_linger_seconds", \.closeLingerSeconds,
            help: "Seconds a closed TCP connection drains input so the client can read the reason; 0 closes at once."),
        .integer(
            "max_outbound_bytes", \.maxOutboundBytes, minimum: 1024,
            help:
                "Outbound bytes per connection; past 3/4 its publishers pause; behind past write_deadline_ms or by another 4 MiB (or the last quarter, if more), QoS 0 is dropped (QoS 1/2 queued)."
        ),
        .integer(
            "write_deadline_ms", \.writeDeadlineMilliseconds, minimum: 1,
            help: "How long a subscriber may stay behind, its publishers paused, before QoS 0 to it is dropped."),
        .integer(
            "sys_interval_seconds", \.sysIntervalSeconds,
            help: "Seconds between $SYS/broker statistics; 0 turns them off."),
        FrontendSetting(
            "subscribe_refusal_reason", kind: .integer,
            help:
                "SUBACK reason code (5.0) for a filter the client may not use: 135 (0x87 Not Authorized) or 128 (0x80).",
            apply: { settings, value throws(FrontendSettingError) in
                guard case .integer(let code) = value, code == 0x87 || code == 0x80 else {
                    throw FrontendSettingError("must be 135 (0x87) or 128 (0x80)")
                }
                settings.settings.subscribeRefusalReason = UInt8(code)
            },
            describe: { "\($0.settings.subscribeRefusalReason)" }),
        .boolean(
            "single_copy_for_overlaps", \.singleCopyForOverlaps,
            help:
                "One PUBLISH (highest QoS, every subscription identifier) for a message matching several of a client's subscriptions."
        ),
    ]
}
