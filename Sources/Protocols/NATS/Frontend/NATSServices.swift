import Atomics
package import BusRuntime
package import FrontendKit

/// What every NATS connection shares: what every frontend shares (`shared`: the bus, the registry,
/// authentication, metrics, sweepers), the configuration, TLS and the server's identity in INFO.
package final class NATSServices: FrontendServices {
    package let shared: FrontendShared
    package let configuration: NATSConfiguration
    /// TLS for the NATS port: INFO says `tls_required` and the handshake follows it.
    package let tls: ServerTLS?
    /// Whether client certificates are required on the NATS port.
    package let tlsVerify: Bool
    /// The address the port binds (`host` in INFO).
    package let host: String
    /// Server id in INFO: random per process, like the reference server's.
    let serverID: String
    private let nextClientID = ManagedAtomic<UInt64>(1)

    package init(
        configuration: NATSConfiguration, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        tls: ServerTLS? = nil, tlsVerify: Bool = false, keepAlive: KeepAliveSweepers? = nil, host: String = "0.0.0.0"
    ) {
        self.host = host
        self.tls = tls
        self.tlsVerify = tlsVerify
        self.shared = FrontendShared(
            metricsName: "nats", bus: bus, connections: connections, authenticator: authenticator, keepAlive: keepAlive)
        self.configuration = configuration
        self.serverID = "NSB" + bus.makeIdentifier().uppercased() + bus.makeIdentifier().uppercased()
    }

    /// The numeric `client_id` of INFO.
    func makeClientID() -> UInt64 { nextClientID.loadThenWrappingIncrement(ordering: .relaxed) }
}
