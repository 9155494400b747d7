import BusCore
import BusRuntime
package import FrontendKit
import MQTTWire
package import NIOCore
package import NIOHTTP1

/// `/mqtt` on the HTTP port: MQTT over WebSocket with subprotocol `mqtt` ([MQTT-6.0.0-3], [MQTT-6.0.0-4]).
package struct MQTTWebSocketEndpoint: WebSocketEndpoint {
    package static let subprotocols = ["mqtt", "mqttv3.1"]

    let services: MQTTServices
    let origins: OriginPolicy

    package init(services: MQTTServices, origins: OriginPolicy) {
        self.services = services
        self.origins = origins
    }

    package var path: String { services.configuration.webSocketPath }
    package var maxFrameSize: Int { services.configuration.limits.maxPacketSize }

    package func negotiate(_ head: HTTPRequestHead, remoteAddress: SocketAddress?) -> WebSocketNegotiation {
        guard origins.permits(head) else {
            return .refuse(.error(.forbidden("origin \(head.headers.first(name: "Origin") ?? "") is not allowed")))
        }
        if let refusal = services.connections.httpRefusal(remoteAddress: remoteAddress) {
            return .refuse(.error(refusal))
        }
        let negotiation = SubprotocolNegotiation.choose(offered: head, supported: Self.subprotocols)
        if let refusal = negotiation.refusal { return .refuse(refusal) }
        // [MQTT-6.0.0-3] the client offers "mqtt"; the server answers with it.
        guard let chosen = negotiation.chosen else {
            return .refuse(.error(.badRequest("MQTT over WebSocket needs the subprotocol \"mqtt\"")))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Sec-WebSocket-Protocol", value: chosen)
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
        // [MQTT-6.0.0-1] MQTT packets travel in binary frames; a text frame closes the connection.
        try channel.pipeline.syncOperations.addHandler(
            WebSocketByteStreamHandler(
                textRefusal: "MQTT needs binary frames", deflate: deflate, compression: compression))
        try channel.pipeline.syncOperations.addHandler(
            MQTTConnectionHandler(services: services, transport: "websocket"))
    }
}
