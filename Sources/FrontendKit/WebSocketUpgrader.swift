import BusCore
import Crypto
package import NIOCore
package import NIOHTTP1
import NIOWebSocket

/// Upgrades `GET <path>` requests to WebSocket for the registered endpoints (RFC 6455 §4.2). Unlike NIO's
/// stock upgrader it installs only what a connection needs — `WebSocketFrameInput` (the frame decoder,
/// which holds bytes only while a frame is incomplete, with our validator/assembler inside it) and the
/// endpoint's handler — since every endpoint writes complete pre-encoded frames: no per-frame encoder,
/// nothing to route writes around (four pipeline contexts less per idle connection).
/// A refused upgrade fails `buildUpgradeResponse`; NIO then hands the request to the HTTP router, whose
/// `addWebSocketRefusals` routes answer with the endpoint's reason.
package struct WebSocketUpgrader: HTTPServerProtocolUpgrader, Sendable {
    /// RFC 6455 §1.3.
    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    package let supportedProtocol = "websocket"
    // NIO checks these names against the Connection header, where clients do not list them; the key and
    // version are validated in `buildUpgradeResponse` instead (as NIO's own upgrader does).
    package let requiredUpgradeHeaders: [String] = []
    let endpoints: [any WebSocketEndpoint]

    package init(endpoints: [any WebSocketEndpoint]) {
        self.endpoints = endpoints
    }

    package enum Refusal: Error {
        case unsupportedVersion, badKey, noEndpoint, refused
    }

    package func buildUpgradeResponse(
        channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        let headers = upgradeRequest.headers
        // RFC 6455 §4.2.1: version 13 and exactly one 16-byte base64 key.
        guard headers[canonicalForm: "Sec-WebSocket-Version"] == ["13"] else {
            return channel.eventLoop.makeFailedFuture(Refusal.unsupportedVersion)
        }
        let keys = headers[canonicalForm: "Sec-WebSocket-Key"]
        guard keys.count == 1, let key = keys.first, Base64.decode(String(key))?.count == 16 else {
            return channel.eventLoop.makeFailedFuture(Refusal.badKey)
        }
        let path = HTTPRequest.split(upgradeRequest.uri).0
        guard let endpoint = endpoints.first(where: { $0.path == path }) else {
            return channel.eventLoop.makeFailedFuture(Refusal.noEndpoint)
        }
        let answer = { () -> EventLoopFuture<HTTPHeaders> in
            guard case .accept(let extra) = endpoint.negotiate(upgradeRequest, remoteAddress: channel.remoteAddress)
            else {
                return channel.eventLoop.makeFailedFuture(Refusal.refused)
            }
            var response = initialResponseHeaders
            response.add(name: "Sec-WebSocket-Accept", value: WebSocketUpgrader.accept(key: String(key)))
            response.add(contentsOf: extra)
            if let deflate = endpoint.deflateParameters(for: upgradeRequest) {
                response.add(name: "Sec-WebSocket-Extensions", value: deflate.response)
            }
            return channel.eventLoop.makeSucceededFuture(response)
        }
        guard let preparing = endpoint.prepare(upgradeRequest, on: channel.eventLoop) else { return answer() }
        return preparing.flatMap { answer() }
    }

    package func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        let path = HTTPRequest.split(upgradeRequest.uri).0
        return context.eventLoop.makeCompletedFuture {
            guard let endpoint = endpoints.first(where: { $0.path == path }) else { throw Refusal.noEndpoint }
            let pipeline = context.pipeline.syncOperations
            // The same pure function of the request as in `buildUpgradeResponse`, so both agree.
            let deflate = endpoint.deflateParameters(for: upgradeRequest)
            try pipeline.addHandler(WebSocketFrameInput(maxFrameSize: endpoint.maxFrameSize, deflate: deflate))
            try endpoint.configure(context.channel, head: upgradeRequest, deflate: deflate)
        }
    }

    /// `Sec-WebSocket-Accept` for a client key: base64(SHA-1(key + GUID)). SHA-1 is a fixed transform here
    /// that proves the server read the handshake, not a security property, hence `Insecure`.
    package static func accept(key: String) -> String {
        Base64.encode(Array(Insecure.SHA1.hash(data: Array((key + acceptGUID).utf8))))
    }
}
