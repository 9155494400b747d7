package import NATSWire

/// The NATS frontend's settings (config keys `nats.*`, docs/operations.md).
package struct NATSConfiguration: Sendable {
    package var host = "0.0.0.0"
    /// 4222 is the NATS client port; 0 picks a free one (tests).
    package var port = 4222
    package var limits = NATSLimits()
    /// `server_name` in INFO.
    package var serverName = "switchboard"
    /// The nats-server version whose client protocol is spoken; clients enable headers and no-responders
    /// from 2.2 on.
    package var protocolVersion = "2.10.0"

    package init() {}
}
