import FrontendKit
package import MQTTWire

/// The MQTT frontend's settings (config key `mqtt`), each with the reason for its default.
package struct MQTTConfiguration: Sendable {
    package var host: String = "0.0.0.0"
    /// The TCP listener's port; nil turns the listener off (MQTT over WebSocket stays available).
    package var port: Int? = 1883
    /// Path of MQTT over WebSocket on the HTTP port.
    package var webSocketPath: String = "/mqtt"
    package var limits = MQTTLimits()
    package var settings = MQTTServerSettings()
    /// Seconds a socket may stay open without a CONNECT.
    package var connectTimeoutSeconds: Int = 10
    /// Outbound bytes buffered per connection before it counts as slow (QoS 0 dropped, QoS 1/2 queued).
    package var maxOutboundBytes: Int = 1 << 20
    /// Seconds between `$SYS/` statistics publications; 0 turns them off.
    package var sysIntervalSeconds: Int = 10

    package init() {}
}
