import BusCore
package import BusRuntime
package import FrontendKit
import NIOConcurrencyHelpers
import SocketIOWire

/// What every Socket.IO session shares: what every frontend shares (`shared`), the settings, the
/// session registry and the namespaces' ids for the encode-once cache.
package final class SocketIOServices: FrontendServices {
    package let shared: FrontendShared
    package let configuration: SocketIOConfiguration
    let registry = SocketIOSessionRegistry()
    let engineLimits: EngineIOLimits
    let socketLimits = SocketIOLimits()
    private let namespaceIDs = NIOLockedValueBox<[String: Int]>(["/": 0])

    package init(
        configuration: SocketIOConfiguration, bus: Bus, connections: ConnectionRegistry,
        authenticator: any Authenticator, keepAlive: KeepAliveSweepers? = nil, forwarder: SessionForwarder? = nil
    ) {
        self.shared = FrontendShared(
            metricsName: "socketio", bus: bus, connections: connections, authenticator: authenticator,
            keepAlive: keepAlive, forwarder: forwarder)
        self.configuration = configuration
        var limits = EngineIOLimits()
        limits.maxPayload = configuration.maxPayload
        self.engineLimits = limits
    }

    /// A small number per namespace (`/` is 0), so a delivery's wire form is keyed without hashing names.
    func namespaceID(_ namespace: String) -> Int {
        namespaceIDs.withLockedValue { ids in
            if let id = ids[namespace] { return id }
            let id = ids.count
            ids[namespace] = id
            return id
        }
    }

    /// The handshake for a new session.
    func handshake(sid: String, upgrades: [String]) -> EngineIOHandshake {
        EngineIOHandshake(
            sessionID: sid, upgrades: upgrades, pingIntervalMilliseconds: configuration.pingIntervalMilliseconds,
            pingTimeoutMilliseconds: configuration.pingTimeoutMilliseconds, maxPayload: configuration.maxPayload)
    }
}
