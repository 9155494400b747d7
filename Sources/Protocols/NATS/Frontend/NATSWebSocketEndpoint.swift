import BusRuntime
package import FrontendKit
import NATSWire
package import NIOCore
package import NIOHTTP1

/// NATS over WebSocket on the HTTP port (what nats.ws and nats-py's `ws://` transport speak): the same
/// protocol in binary messages, through `WebSocketByteStreamHandler`. Served at `/nats`, and at `/` for
/// clients configured with a bare `ws://host:port` (nats-server upgrades any path of its WebSocket port).
package struct NATSWebSocketEndpoint: WebSocketEndpoint {
    package let path: String
    package let services: NATSServices
    package let origins: OriginPolicy

    package init(path: String = "/nats", services: NATSServices, origins: OriginPolicy) {
        self.path = path
        self.services = services
        self.origins = origins
    }

    /// A whole PUB with the largest payload fits in one message.
    package var maxFrameSize: Int {
        services.configuration.limits.maxPayload + services.configuration.limits.maxControlLine + 2
    }

    package func negotiate(_ head: HTTPRequestHead, remoteAddress: SocketAddress?) -> WebSocketNegotiation {
        guard origins.permits(head) else {
            return .refuse(.error(APIError(.forbidden, "permission_denied", "origin is not allowed")))
        }
        // Lame-duck mode: new clients go elsewhere (the TCP port is closed too).
        guard !services.isLameDuck else {
            return .refuse(.error(.unavailable("the NATS frontend is in lame-duck mode")))
        }
        // nats.ws offers no subprotocol; one offered is not ours to refuse or to echo.
        return .accept(HTTPHeaders())
    }

    package func recordRefusal() { services.counters.countRefused() }

    package var compression: WebSocketCompression? {
        services.configuration.webSocketCompression ? WebSocketCompression() : nil
    }

    package func configure(_ channel: any Channel, head: HTTPRequestHead) throws {
        try configure(channel, head: head, deflate: nil)
    }

    package func configure(_ channel: any Channel, head: HTTPRequestHead, deflate: WebSocketDeflateParameters?) throws {
        try channel.pipeline.syncOperations.addHandler(
            WebSocketByteStreamHandler(deflate: deflate, compression: compression))
        try channel.pipeline.syncOperations.addHandler(NATSConnectionHandler(services: services, isWebSocket: true))
    }
}
