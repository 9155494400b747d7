import BusCore
package import BusRuntime
package import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import SignalRWire

/// What every SignalR connection shares: what every frontend shares (`shared`), the settings, the wire
/// limits and the negotiated connections waiting for their transport.
package final class SignalRServices: FrontendServices {
    package let shared: FrontendShared
    package let configuration: SignalRConfiguration
    let limits: SignalRLimits

    /// A negotiate's answer, kept until the transport connects with its token (or it expires).
    struct Negotiated: Sendable {
        var connectionID: String
        var credentials: ClientCredentials
        var hub: String
        var expiresAt: UInt64
        /// Stateful reconnect was asked for and granted.
        var statefulReconnect = false
    }

    private let negotiated = NIOLockedValueBox<[String: Negotiated]>([:])
    /// Connections on Server-Sent Events or long polling, by connection token: their POSTs, polls and
    /// DELETEs arrive as separate requests on any loop and find them here.
    private let httpConnections = NIOLockedValueBox<[String: SignalRConnectionHandler]>([:])
    /// WebSocket connections with stateful reconnect, by connection token: a reconnect finds its
    /// connection here (with the hub it belongs to).
    private let resumable = NIOLockedValueBox<[String: (hub: String, connection: SignalRConnectionHandler)]>([:])

    package init(
        configuration: SignalRConfiguration, bus: Bus, connections: ConnectionRegistry,
        authenticator: any Authenticator, keepAlive: KeepAliveSweepers? = nil, forwarder: SessionForwarder? = nil
    ) {
        self.shared = FrontendShared(
            metricsName: "signalr", bus: bus, connections: connections, authenticator: authenticator,
            keepAlive: keepAlive, forwarder: forwarder)
        self.configuration = configuration
        var limits = SignalRLimits()
        limits.maxMessageSize = configuration.maxMessageSize
        self.limits = limits
    }

    /// Notes a negotiated connection: its token, valid for `negotiate_token_seconds`. Expired entries
    /// go on the way, so a client that negotiates and never connects costs nothing for long.
    func remember(token: String, _ entry: Negotiated) {
        let now = shared.bus.clock()
        negotiated.withLockedValue { entries in
            if entries.count >= 1_024 { entries = entries.filter { $0.value.expiresAt > now } }
            entries[token] = entry
        }
    }

    /// Whether a negotiated connection waits for its transport under this token.
    func isPending(token: String, hub: String) -> Bool {
        let now = shared.bus.clock()
        return negotiated.withLockedValue { entries in
            guard let entry = entries[token] else { return false }
            return entry.expiresAt > now && entry.hub == hub
        }
    }

    /// Takes a negotiated connection by its token (once: a token connects one transport).
    func take(token: String, hub: String) -> Negotiated? {
        let now = shared.bus.clock()
        return negotiated.withLockedValue { entries in
            guard let entry = entries.removeValue(forKey: token), entry.expiresAt > now, entry.hub == hub else {
                return nil
            }
            return entry
        }
    }

    /// Whether the hub takes authenticated users only (the conformance `authHub`, `[Authorize]` in the
    /// test server).
    func requiresUser(hub: String) -> Bool {
        configuration.conformanceMode && hub == SignalRConformance.authHub
    }

    func httpConnection(token: String) -> SignalRConnectionHandler? {
        httpConnections.withLockedValue { $0[token] }
    }

    func register(_ connection: SignalRConnectionHandler, token: String) {
        httpConnections.withLockedValue { $0[token] = connection }
    }

    /// Forgets the connection under `token` (only if it is still the one registered).
    func unregister(_ connection: SignalRConnectionHandler, token: String) {
        httpConnections.withLockedValue { connections in
            if connections[token] === connection { connections[token] = nil }
        }
    }

    func registerResumable(_ connection: SignalRConnectionHandler, token: String, hub: String) {
        resumable.withLockedValue { $0[token] = (hub, connection) }
    }

    func resumable(token: String, hub: String) -> SignalRConnectionHandler? {
        resumable.withLockedValue { entries in
            guard let entry = entries[token], entry.hub == hub else { return nil }
            return entry.connection
        }
    }

    func unregisterResumable(_ connection: SignalRConnectionHandler, token: String) {
        resumable.withLockedValue { entries in
            if entries[token]?.connection === connection { entries[token] = nil }
        }
    }
}
