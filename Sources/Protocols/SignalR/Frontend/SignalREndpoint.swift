import BusCore
import BusRuntime
package import FrontendKit
package import NIOCore
package import NIOHTTP1
import SignalRWire

/// The WebSocket transport of one hub (`/hubs/<hub>?id=<connectionToken>`, TransportProtocols.md
/// §WebSockets): the token from negotiate, or none for a client that skips negotiation (WebSockets only,
/// as ASP.NET Core allows). Credentials are checked on the upgrade: 401 when refused, 404 for a token
/// that was never issued or has expired.
package struct SignalREndpoint: WebSocketEndpoint {
    package let path: String
    let hub: String
    let services: SignalRServices

    init(hub: String, services: SignalRServices) {
        self.hub = hub
        self.path = services.configuration.pathPrefix + hub
        self.services = services
    }

    /// Plain GETs on the hub's path are the HTTP transports' (SignalRRoutes+HTTPTransports.swift).
    package var answersPlainRequests: Bool { true }

    package var maxFrameSize: Int { services.configuration.maxMessageSize + 16 }

    package var compression: WebSocketCompression? {
        services.configuration.webSocketCompression ? WebSocketCompression() : nil
    }

    package func negotiate(_ head: HTTPRequestHead, remoteAddress: SocketAddress?) -> WebSocketNegotiation {
        guard services.configuration.origins.permits(head) else {
            return .refuse(.error(.forbidden("origin \(head.headers.first(name: "Origin") ?? "") is not allowed")))
        }
        if let refusal = services.connections.httpRefusal(remoteAddress: remoteAddress) {
            return .refuse(.error(refusal))
        }
        let query = HTTPRequest(head: head, body: ByteBuffer(), remoteAddress: nil).query
        let credentials = SignalRRoutes.credentials(head, query: query)
        if let token = query["id"]?.first, !services.isPending(token: token, hub: hub) {
            // A stateful reconnect: the connection waits under its token, for the same user.
            guard let waiting = services.resumable(token: token, hub: hub) else {
                // Another instance's token (with an engine) is not upgraded here either: the transport
                // route splices the connection to that instance (SignalRRoutes.elsewhere).
                return .refuse(.error(.notFound("No Connection with that ID")))
            }
            let user = services.authenticator.authenticate(credentials).identity?.userID
            guard credentials.isEmpty || user == waiting.authenticatedUser else {
                services.counters.countAuthenticationFailure()
                return .refuse(.error(.unauthorized("the reconnect is not for the connection's user")))
            }
            return .accept(HTTPHeaders())
        }
        if case .refused(let reason) = services.authenticator.authenticate(credentials) {
            services.counters.countAuthenticationFailure()
            return .refuse(.error(.unauthorized(reason)))
        }
        if services.requiresUser(hub: hub), services.authenticator.authenticate(credentials).identity?.userID == nil {
            return .refuse(.error(.unauthorized("this hub requires an authenticated user")))
        }
        return .accept(HTTPHeaders())
    }

    /// A password on the upgrade (HTTP Basic) is checked off the loop before `negotiate` runs.
    package func prepare(_ head: HTTPRequestHead, on loop: any EventLoop) -> EventLoopFuture<Void>? {
        let credentials = SignalRRoutes.credentials(
            head, query: HTTPRequest(head: head, body: ByteBuffer(), remoteAddress: nil).query)
        return credentials.isEmpty ? nil : services.authenticator.prepare(credentials, on: loop)
    }

    package func recordRefusal() {
        services.counters.countRefused()
    }

    package func configure(_ channel: any Channel, head: HTTPRequestHead) throws {
        try configure(channel, head: head, deflate: nil)
    }

    package func configure(_ channel: any Channel, head: HTTPRequestHead, deflate: WebSocketDeflateParameters?) throws {
        let query = HTTPRequest(head: head, body: ByteBuffer(), remoteAddress: nil).query
        var credentials = SignalRRoutes.credentials(head, query: query)
        var connectionID: String?
        var stateful = false
        let token = query["id"]?.first
        let deflate = deflate.flatMap { parameters in compression.map { (parameters, $0) } }
        if let token {
            guard let negotiated = services.take(token: token, hub: hub) else {
                // A stateful reconnect: the waiting connection takes this WebSocket (on its own loop).
                if let waiting = services.resumable(token: token, hub: hub) {
                    try channel.pipeline.syncOperations.addHandler(
                        SignalRReattachedTransport(connection: waiting, deflate: deflate))
                    return
                }
                // A token negotiate never issued (or issued for another hub, or expired) connects nothing.
                throw SignalREndpointError.unknownConnectionToken
            }
            connectionID = negotiated.connectionID
            stateful = negotiated.statefulReconnect
            if credentials.isEmpty { credentials = negotiated.credentials }
        }
        credentials.certificateSubject = channel.verifiedClientCommonName
        let connection = SignalRConnectionHandler(
            services: services, connectionID: connectionID, credentials: credentials, deflate: deflate,
            token: token, eventLoop: channel.eventLoop, statefulReconnect: stateful, hub: hub)
        if stateful, let token { services.registerResumable(connection, token: token, hub: hub) }
        try channel.pipeline.syncOperations.addHandler(connection)
    }
}

enum SignalREndpointError: Error {
    case unknownConnectionToken
}
