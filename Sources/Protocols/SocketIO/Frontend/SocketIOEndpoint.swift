import BusCore
import BusRuntime
package import FrontendKit
package import NIOCore
package import NIOHTTP1
import SocketIOWire

/// Engine.IO over WebSocket at the endpoint's path (`/socket.io/?EIO=4&transport=websocket[&sid=…]`).
/// Plain requests to the same path are the polling transport (`SocketIORoutes`), so the server's
/// "upgrade required" answer is not registered for it (`answersPlainRequests`).
package struct SocketIOEndpoint: WebSocketEndpoint {
    package let path: String
    let services: SocketIOServices
    /// The engine.io-protocol suite's server: Engine.IO messages are echoed, no Socket.IO layer.
    let echoesEngineIO: Bool

    init(path: String, services: SocketIOServices, echoesEngineIO: Bool = false) {
        self.path = path
        self.services = services
        self.echoesEngineIO = echoesEngineIO
    }

    package var maxFrameSize: Int { services.configuration.maxPayload }
    package var answersPlainRequests: Bool { true }

    package func negotiate(_ head: HTTPRequestHead, remoteAddress: SocketAddress?) -> WebSocketNegotiation {
        let request = HTTPRequest(head: head, body: ByteBuffer(), remoteAddress: remoteAddress)
        if let error = SocketIORoutes.queryError(request, transport: "websocket") {
            return .refuse(SocketIORoutes.errorResponse(error, head: head, services: services))
        }
        guard services.configuration.origins.permits(head) else {
            return .refuse(SocketIORoutes.errorResponse(.forbidden, head: head, services: services))
        }
        if request.query("sid") == nil, let refusal = services.connections.httpRefusal(remoteAddress: remoteAddress) {
            return .refuse(.error(refusal))
        }
        if let sid = request.query("sid"), services.registry.session(sid) == nil,
            services.forwarder?.owner(of: sid, request) != nil
        {
            // The upgrade of a session another instance holds: not upgraded here; the polling route
            // splices the connection to that instance (SocketIORoutes.upgradeElsewhere).
            return .refuse(SocketIORoutes.errorResponse(.unknownSessionID, head: head, services: services))
        }
        return .accept(HTTPHeaders())
    }

    package func recordRefusal() {
        services.counters.countRefused()
    }

    package var compression: WebSocketCompression? {
        services.configuration.webSocketCompression ? WebSocketCompression() : nil
    }

    package func configure(_ channel: any Channel, head: HTTPRequestHead) throws {
        try configure(channel, head: head, deflate: nil)
    }

    package func configure(_ channel: any Channel, head: HTTPRequestHead, deflate: WebSocketDeflateParameters?) throws {
        let request = HTTPRequest(head: head, body: ByteBuffer(), remoteAddress: channel.remoteAddress)
        try channel.pipeline.syncOperations.addHandler(
            SocketIOWebSocketHandler(
                services: services, sessionID: request.query("sid"), echoesEngineIO: echoesEngineIO,
                credentials: head.clientCredentials,
                deflate: deflate.flatMap { parameters in
                    compression.map { (parameters, $0) }
                }))
    }
}
