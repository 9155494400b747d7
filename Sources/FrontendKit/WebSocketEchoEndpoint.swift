import BusCore
package import NIOCore
package import NIOHTTP1
import NIOWebSocket

/// An echo endpoint for conformance testing (Autobahn|Testsuite's fuzzing client), off unless
/// `--ws-echo-path` is given. It runs on exactly the plumbing every WebSocket endpoint uses — our
/// upgrader, `WebSocketFrameInput` with `WebSocketClientFrameValidator`, `WebSocketFrameWriter` and the
/// shared close rules — so what the suite checks is what `/ws` (and later `/mqtt`, `/nats`) run on.
package struct WebSocketEchoEndpoint: WebSocketEndpoint {
    package let path: String
    package let maxFrameSize: Int

    package init(path: String, maxFrameSize: Int) {
        self.path = path
        self.maxFrameSize = maxFrameSize
    }

    /// Always offered, so the suite's 12.* and 13.* cases run the same compression code `/ws` uses; every
    /// message of at least one byte is compressed.
    package var compression: WebSocketCompression? { WebSocketCompression(minimumBytes: 1) }

    package func negotiate(_ head: HTTPRequestHead, remoteAddress: SocketAddress?) -> WebSocketNegotiation {
        .accept(HTTPHeaders())
    }

    package func recordRefusal() {}

    package func configure(_ channel: any Channel, head: HTTPRequestHead) throws {
        try configure(channel, head: head, deflate: nil)
    }

    package func configure(_ channel: any Channel, head: HTTPRequestHead, deflate: WebSocketDeflateParameters?) throws {
        try channel.pipeline.syncOperations.addHandler(
            WebSocketEchoHandler(deflate: deflate.map { ($0, compression ?? WebSocketCompression()) }))
    }
}

/// Echoes whole messages (compressed when permessage-deflate was negotiated); answers pings; runs the
/// closing handshake.
final class WebSocketEchoHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    private var closing = false
    private let deflate: (parameters: WebSocketDeflateParameters, compression: WebSocketCompression)?

    init(deflate: (parameters: WebSocketDeflateParameters, compression: WebSocketCompression)?) {
        self.deflate = deflate
    }

    private func message(_ opcode: WebSocketOpcode, _ payload: ByteBuffer) -> ByteBuffer {
        guard let deflate else { return WebSocketFrameWriter.frame(opcode, payload: payload) }
        return WebSocketFrameWriter.frame(
            opcode, payload: payload, deflate: deflate.parameters, compression: deflate.compression)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let payload = frame.unmaskedData
            // RFC 6455 §8.1: a text message that is not UTF-8 fails the connection with 1007.
            guard payload.withUnsafeReadableBytes(UTF8Validation.isValid) else {
                return close(context, code: 1007, reason: "text message is not UTF-8")
            }
            context.write(NIOAny(message(.text, payload)), promise: nil)
        case .binary:
            context.write(NIOAny(message(.binary, frame.unmaskedData)), promise: nil)
        case .ping:
            context.write(NIOAny(WebSocketFrameWriter.frame(.pong, payload: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            let answer = WebSocketCloseCode.answer(toCloseBody: frame.unmaskedData)
            close(context, code: answer.code, reason: answer.reason)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let answer = WebSocketCloseCode.forError(error) {
            close(context, code: answer.code, reason: answer.reason)
        } else {
            context.close(promise: nil)
        }
    }

    private func close(_ context: ChannelHandlerContext, code: UInt16, reason: String) {
        guard !closing else { return }
        closing = true
        let channel = context.channel
        let frame = WebSocketFrameWriter.close(code: WebSocketErrorCode(codeNumber: Int(code)), reason: reason)
        context.writeAndFlush(NIOAny(frame)).whenComplete { _ in channel.close(promise: nil) }
    }
}
