import BusCore
package import BusRuntime
package import FrontendKit
package import NIOCore
package import NIOHTTP1

/// `/ws`: upgrade checks (origin, connection limit, subprotocol) and the per-connection handler.
package struct NativeWSEndpoint: WebSocketEndpoint {
    package static let subprotocol = "switchboard.v1"
    /// The protocol versions served (`X-Version`; the subprotocol names the same one).
    package static let versions = ["1"]

    package let path: String
    package let configuration: NativeWSConfiguration
    let services: NativeWSServices

    package init(
        configuration: NativeWSConfiguration, bus: Bus, connections: ConnectionRegistry,
        authenticator: any Authenticator, keepAlive: KeepAliveSweepers? = nil
    ) {
        self.path = configuration.path
        self.configuration = configuration
        self.services = NativeWSServices(
            shared: FrontendShared(
                metricsName: "websocket", bus: bus, connections: connections, authenticator: authenticator,
                keepAlive: keepAlive),
            configuration: configuration)
    }

    package var maxFrameSize: Int { configuration.maxFrameBytes }

    package var compression: WebSocketCompression? { configuration.compressionParameters }

    package func negotiate(_ head: HTTPRequestHead, remoteAddress: SocketAddress?) -> WebSocketNegotiation {
        guard configuration.origins.permits(head) else {
            return .refuse(.error(.forbidden("origin \(head.headers.first(name: "Origin") ?? "") is not allowed")))
        }
        if let refusal = services.connections.httpRefusal(remoteAddress: remoteAddress) {
            return .refuse(.error(refusal))
        }
        // Credentials on the upgrade itself (Authorization or ?token=) are checked before it is accepted.
        let credentials = head.clientCredentials
        if !credentials.isEmpty, case .refused(let reason) = services.authenticator.authenticate(credentials) {
            services.counters.countAuthenticationFailure()
            return .refuse(.error(.unauthorized(reason)))
        }
        if let refusal = ProtocolVersionNegotiation.refusal(head, served: NativeWSEndpoint.versions) {
            return .refuse(refusal)
        }
        let negotiation = SubprotocolNegotiation.choose(offered: head, supported: [NativeWSEndpoint.subprotocol])
        if let refusal = negotiation.refusal { return .refuse(refusal) }
        var headers = HTTPHeaders()
        if let chosen = negotiation.chosen { headers.add(name: "Sec-WebSocket-Protocol", value: chosen) }
        return .accept(headers)
    }

    /// A password on the upgrade (HTTP Basic) is checked off the loop before `negotiate` runs.
    package func prepare(_ head: HTTPRequestHead, on loop: any EventLoop) -> EventLoopFuture<Void>? {
        let credentials = head.clientCredentials
        return credentials.isEmpty ? nil : services.authenticator.prepare(credentials, on: loop)
    }

    package func recordRefusal() {
        services.counters.countRefused()
    }

    package func configure(_ channel: any Channel, head: HTTPRequestHead) throws {
        try configure(channel, head: head, deflate: nil)
    }

    package func configure(_ channel: any Channel, head: HTTPRequestHead, deflate: WebSocketDeflateParameters?) throws {
        var credentials = head.clientCredentials
        // mTLS on HTTPS: the verified certificate names the user when nothing else does.
        credentials.certificateSubject = channel.verifiedClientCommonName
        // Accepted in `negotiate`; the identity is made again here with the connection's own client id.
        let handler = NativeWSConnectionHandler(
            services: services, upgradeCredentials: credentials.isEmpty ? nil : credentials, deflate: deflate)
        try channel.pipeline.syncOperations.addHandler(handler)
    }
}

/// What every connection of the endpoint shares: what every frontend shares (`shared`) and the settings.
/// A class, so each connection holds one reference rather than its own copy of the configuration
/// (~170 B per idle connection).
final class NativeWSServices: FrontendServices {
    let shared: FrontendShared
    let configuration: NativeWSConfiguration

    init(shared: FrontendShared, configuration: NativeWSConfiguration) {
        self.shared = shared
        self.configuration = configuration
    }
}
