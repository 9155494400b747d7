/// Bounds the decoder checks before allocating anything; every length read from the wire is compared
/// with one of these first.
package struct MQTTLimits: Sendable, Hashable {
    /// Largest whole packet (fixed header included) accepted from a client. 1 MiB matches the HTTP
    /// body and WebSocket frame limits; MQTT 5 clients are told it in CONNACK's Maximum Packet Size.
    package var maxPacketSize: Int
    /// Most user properties in one packet. 64 covers real header sets and bounds the work per packet.
    package var maxUserProperties: Int
    /// Most topic filters in one SUBSCRIBE or UNSUBSCRIBE.
    package var maxFiltersPerPacket: Int

    package init(maxPacketSize: Int = 1 << 20, maxUserProperties: Int = 64, maxFiltersPerPacket: Int = 128) {
        self.maxPacketSize = maxPacketSize
        self.maxUserProperties = maxUserProperties
        self.maxFiltersPerPacket = maxFiltersPerPacket
    }

    /// The largest Remaining Length a variable byte integer can hold (MQTT 5.0 §1.5.5).
    package static let maxVariableByteInteger = 268_435_455
}
