import BusRuntime
package import FrontendKit
package import NIOCore
package import NIOHTTP1
import STOMPWire

/// `/stomp` on the HTTP port: STOMP over WebSocket (subprotocols `v12.stomp`, `v11.stomp`,
/// `v10.stomp`, as stomp.js and RabbitMQ's Web-STOMP use them), through the same codec as TCP. Frames
/// leave as text messages when they are UTF-8.
package struct STOMPWebSocketEndpoint: WebSocketEndpoint {
    package static let subprotocols = ["v12.stomp", "v11.stomp", "v10.stomp", "stomp"]

    let services: STOMPServices
    let origins: OriginPolicy

    package init(services: STOMPServices, origins: OriginPolicy) {
        self.services = services
        self.origins = origins
    }

    package var path: String { "/stomp" }
    package var maxFrameSize: Int {
        services.configuration.limits.maxHeaderBytes + services.configuration.limits.maxBodyBytes + 2
    }

    package func negotiate(_ head: HTTPRequestHead, remoteAddress: SocketAddress?) -> WebSocketNegotiation {
        guard origins.permits(head) else {
            return .refuse(.error(.forbidden("origin \(head.headers.first(name: "Origin") ?? "") is not allowed")))
        }
        if let refusal = services.connections.httpRefusal(remoteAddress: remoteAddress) {
            return .refuse(.error(refusal))
        }
        let negotiation = SubprotocolNegotiation.choose(offered: head, supported: Self.subprotocols)
        if let refusal = negotiation.refusal { return .refuse(refusal) }
        // A client that offers none still speaks STOMP (stomp.py's WebSocket transport offers none).
        var headers = HTTPHeaders()
        if let chosen = negotiation.chosen { headers.add(name: "Sec-WebSocket-Protocol", value: chosen) }
        return .accept(headers)
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
        try channel.pipeline.syncOperations.addHandler(
            WebSocketByteStreamHandler(sendsText: true, deflate: deflate, compression: compression))
        try channel.pipeline.syncOperations.addHandler(STOMPConnectionHandler(services: services))
    }
}
