import Atomics
package import BusRuntime
package import FrontendKit
import NATSWire

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
    /// The live connections and the totals of ended ones (monitoring, lame-duck mode).
    package let directory = NATSConnectionDirectory()
    /// JetStream on the bus's streams: the `$JS.API` requests, PubAcks, pull consumers.
    package let jetStream: JetStreamService
    /// When the frontend was built (bus clock, ns): `start` in `/varz`.
    package let startedAt: UInt64
    /// Where nonces come from (randomness is injected; tests may fix it).
    private let nonceBytes: @Sendable () -> [UInt8]
    /// Lame-duck mode: set once, never cleared (the frontend stays lame until the process ends).
    private let lameDuck = ManagedAtomic(false)
    /// Publisher flow control (`CongestedSubscriber`): a subscriber is behind past 3/4 of `max_pending`
    /// (where nats-server opens its stall gate; also the channel's high water mark), and a slow consumer
    /// past `write_deadline_ms` or past `max_pending`.
    package let softPendingLimit: Int
    package let congestionBounds: CongestedSubscriber.Bounds
    /// The parser and session configuration every connection shares (by reference: each connection
    /// holding its own copies of the limits cost ~130 B per idle connection; issue 25).
    let parser: NATSParser
    let machineConfiguration: NATSSessionStateMachine.Configuration.Shared

    package init(
        configuration: NATSConfiguration, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        tls: ServerTLS? = nil, tlsVerify: Bool = false, keepAlive: KeepAliveSweepers? = nil, host: String = "0.0.0.0",
        nonceBytes: @escaping @Sendable () -> [UInt8] = NATSServices.randomNonceBytes
    ) {
        self.nonceBytes = nonceBytes
        self.host = host
        self.tls = tls
        self.tlsVerify = tlsVerify
        self.shared = FrontendShared(
            metricsName: "nats", bus: bus, connections: connections, authenticator: authenticator, keepAlive: keepAlive)
        self.configuration = configuration
        self.jetStream = JetStreamService(bus: bus, limits: configuration.jetStream)
        self.serverID = "NSB" + bus.makeIdentifier().uppercased() + bus.makeIdentifier().uppercased()
        self.startedAt = bus.clock()
        self.softPendingLimit = CongestedSubscriber.Bounds.softLimit(outboundLimit: configuration.limits.maxPending)
        self.congestionBounds = CongestedSubscriber.Bounds(
            outboundLimit: configuration.limits.maxPending,
            deadlineMilliseconds: configuration.writeDeadlineMilliseconds)
        self.parser = NATSParser(limits: configuration.limits)
        self.machineConfiguration = .init(
            .init(
                authenticationRequired: !authenticator.allowsAnonymous, limits: configuration.limits,
                topicLimits: bus.configuration.topicLimits))
    }

    /// Checks a CONNECT's credentials; a client presenting none becomes `no_auth_user` when one is set.
    func authenticate(_ credentials: ClientCredentials) -> AuthOutcome {
        if credentials.isEmpty, let user = configuration.noAuthUser,
            let identity = authenticator.identity(ofUser: user, clientID: credentials.clientID)
        {
            return .accepted(identity)
        }
        return authenticator.authenticate(credentials)
    }

    /// Whether lame-duck mode has begun.
    package var isLameDuck: Bool { lameDuck.load(ordering: .relaxed) }

    /// Enters lame-duck mode; false when it had already begun.
    func enterLameDuckMode() -> Bool {
        lameDuck.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
    }

    /// INFO's `nonce` for one connection: 11 random bytes in unpadded base64url, as nats-server makes it
    /// (`nonceRawLen`); the client signs its text.
    func makeNonce() -> String { Self.base64URL(nonceBytes()) }

    /// nats-server's `nonceRawLen`: 11 random bytes.
    package static func randomNonceBytes() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<11).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for byte in chunk { value = value << 8 | Int(byte) }
            value <<= 8 * (3 - chunk.count)
            for position in 0...chunk.count { out.append(alphabet[value >> (18 - 6 * position) & 0x3F]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The numeric `client_id` of INFO.
    func makeClientID() -> UInt64 { nextClientID.loadThenWrappingIncrement(ordering: .relaxed) }
}
