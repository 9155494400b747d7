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
    /// Seconds a TCP connection the server closes (after DISCONNECT or a refusing CONNACK) stays
    /// half-open, reading and dropping input, so the client can read the reason before the socket goes;
    /// the client's own close ends it sooner. 2 s covers a client draining a window of acknowledgements
    /// and bounds what a misbehaving one can hold; 0 closes at once.
    package var closeLingerSeconds: Int = 2
    /// Outbound bytes buffered per connection before it counts as slow (QoS 0 dropped, QoS 1/2 queued).
    package var maxOutboundBytes: Int = 1 << 20
    /// Seconds between `$SYS/` statistics publications; 0 turns them off.
    package var sysIntervalSeconds: Int = 10

    package init() {}
}
