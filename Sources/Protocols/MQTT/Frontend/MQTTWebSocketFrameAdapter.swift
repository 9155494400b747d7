import FrontendKit
import NIOCore
import NIOWebSocket

/// MQTT over WebSocket (MQTT 5.0 §6): binary messages carry the MQTT byte stream, in any split
/// ([MQTT-6.0.0-2]), so this adapter turns them into plain bytes for `MQTTConnectionHandler` and wraps
/// what it writes into binary frames: one codec for TCP and WebSocket.
final class MQTTWebSocketFrameAdapter: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary:
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .text:
            // [MQTT-6.0.0-1] MQTT packets travel in binary frames; anything else closes the connection.
            close(context, code: .unacceptableData, reason: "MQTT needs binary frames")
        case .ping:
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrameWriter.frame(.pong, payload: frame.unmaskedData)), promise: nil)
        case .pong:
            break
        case .connectionClose:
            let answer = WebSocketCloseCode.answer(toCloseBody: frame.unmaskedData)
            close(context, code: WebSocketErrorCode(codeNumber: Int(answer.code)), reason: answer.reason)
        default:
            close(context, code: .protocolError, reason: "unexpected opcode")
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        // An empty write is the connection handler's "flush, then close" marker: no frame for it.
        guard bytes.readableBytes > 0 else { return context.write(data, promise: promise) }
        context.write(wrapOutboundOut(WebSocketFrameWriter.frame(.binary, payload: bytes)), promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let answer = WebSocketCloseCode.forError(error) {
            close(context, code: WebSocketErrorCode(codeNumber: Int(answer.code)), reason: answer.reason)
        } else {
            context.close(promise: nil)
        }
    }

    private func close(_ context: ChannelHandlerContext, code: WebSocketErrorCode, reason: String) {
        guard !closing else { return }
        closing = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrameWriter.close(code: code, reason: reason))).whenComplete {
            _ in channel.close(promise: nil)
        }
    }
}
