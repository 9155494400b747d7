import BusCore
package import NIOCore
package import NIOWebSocket

/// Lets a byte-stream protocol (NATS, MQTT, STOMP) run over WebSocket unchanged: data messages go up as
/// the bytes they carry, and every `ByteBuffer` written down leaves as one message — binary, or text
/// when the protocol is a text protocol and the bytes are UTF-8 (`sendsText`). Pings are
/// answered and the closing handshake is run here; when the protocol closes the channel, a close frame
/// (1000) goes first. Sits between `WebSocketFrameInput` and the protocol's handler.
package final class WebSocketByteStreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = WebSocketFrame
    package typealias InboundOut = ByteBuffer
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    private var closing = false
    /// When set, a text message closes the connection (1003) with this reason: MQTT allows only binary
    /// frames ([MQTT-6.0.0-1]); NATS clients may send either.
    private let textRefusal: String?
    /// Writes leave as text messages when they are valid UTF-8 (STOMP: browsers' STOMP clients and
    /// RabbitMQ's Web-STOMP use text frames); binary otherwise.
    private let sendsText: Bool
    /// With permessage-deflate negotiated: writes of at least `compression.minimumBytes` leave compressed
    /// (inbound messages are inflated by `WebSocketClientFrameValidator`).
    private let deflate: (parameters: WebSocketDeflateParameters, compression: WebSocketCompression)?

    package init(
        textRefusal: String? = nil, sendsText: Bool = false, deflate: WebSocketDeflateParameters? = nil,
        compression: WebSocketCompression? = nil
    ) {
        self.textRefusal = textRefusal
        self.sendsText = sendsText
        if let deflate, let compression { self.deflate = (deflate, compression) } else { self.deflate = nil }
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text where textRefusal != nil:
            sendCloseAndClose(context, code: 1003, reason: textRefusal ?? "")
        case .binary, .text:
            // The validator hands over whole messages; a protocol's operations may span messages, and its
            // own decoder deals with that as it does for TCP reads.
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .ping:
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrameWriter.frame(.pong, payload: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            let answer = WebSocketCloseCode.answer(toCloseBody: frame.unmaskedData)
            sendCloseAndClose(context, code: answer.code, reason: answer.reason)
        default:
            break
        }
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let answer = WebSocketCloseCode.forError(error) {
            sendCloseAndClose(context, code: answer.code, reason: answer.reason)
        } else {
            context.close(promise: nil)
        }
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let payload = unwrapOutboundIn(data)
        // An empty write carries no bytes of the stream (a handler's "flush, then close" marker): no frame.
        guard payload.readableBytes > 0 else { return context.write(data, promise: promise) }
        // The header goes in its own small buffer so the payload is never copied.
        var header = context.channel.allocator.buffer(capacity: 10)
        let opcode: WebSocketOpcode =
            sendsText
                && payload.withUnsafeReadableBytes(UTF8Validation.isValid)
            ? .text : .binary
        if let deflate, payload.readableBytes >= deflate.compression.minimumBytes {
            let frame = WebSocketFrameWriter.frame(
                opcode, payload: payload, deflate: deflate.parameters, compression: deflate.compression,
                allocator: context.channel.allocator)
            return context.write(wrapOutboundOut(frame), promise: promise)
        }
        WebSocketFrameWriter.writeHeader(opcode, length: payload.readableBytes, into: &header)
        context.write(wrapOutboundOut(header), promise: nil)
        context.write(wrapOutboundOut(payload), promise: promise)
    }

    package func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard !closing, mode == .all, context.channel.isActive else {
            return context.close(mode: mode, promise: promise)
        }
        closing = true
        let frame = WebSocketFrameWriter.close(code: .normalClosure)
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in context.close(mode: mode, promise: promise) }
    }

    private func sendCloseAndClose(_ context: ChannelHandlerContext, code: UInt16, reason: String) {
        guard !closing else { return }
        closing = true
        let frame = WebSocketFrameWriter.close(code: WebSocketErrorCode(codeNumber: Int(code)), reason: reason)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
    }
}
