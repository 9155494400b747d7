import BusCore
package import NIOCore
package import NIOWebSocket

/// Checks every client frame against the RFC 6455 rules NIO's decoder leaves to the server, then
/// reassembles fragmented messages and inflates compressed ones:
/// - a client frame must be masked (§5.1); reserved bits must be clear (§5.2), except RSV1 on the first
///   frame of a data message when permessage-deflate was negotiated (RFC 7692 §6);
/// - a continuation needs a message in progress, a new data frame needs none (§5.4);
/// - control frames may arrive between fragments and pass straight through (§5.4);
/// - a message may not exceed `maxMessageBytes`, compressed or inflated (the endpoint closes with 1009).
/// The message size is the only bound on fragments: memory is what it protects, and a message in
/// 64-byte fragments takes no more of it than the same message in one frame (Autobahn 9.3, 9.4).
/// A violation is raised as `WebSocketViolation` and everything after it is dropped. Whole messages
/// leave as one final frame (unmasked when reassembled or inflated; RSV1 clear).
package final class WebSocketClientFrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = WebSocketFrame
    package typealias InboundOut = WebSocketFrame

    private let maxMessageBytes: Int
    /// Set when permessage-deflate was negotiated on this connection.
    private let deflate: WebSocketDeflateParameters?
    private var failed = false
    private var assembling: (opcode: WebSocketOpcode, data: ByteBuffer, compressed: Bool)?

    package init(maxMessageBytes: Int, deflate: WebSocketDeflateParameters? = nil) {
        self.maxMessageBytes = maxMessageBytes
        self.deflate = deflate
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        validate(unwrapInboundIn(data), context: context)
    }

    /// Checks `frame` and passes it (or the message it completes) on from `context`: the pipeline's
    /// `channelRead`, or `WebSocketFrameInput`, which owns its validator instead of giving it a pipeline
    /// context of its own.
    package func validate(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        guard !failed else { return }
        if frame.maskKey == nil { return fail(context, .unmaskedClientFrame) }
        if frame.rsv2 || frame.rsv3 { return fail(context, .reservedBitsSet) }
        // RFC 7692 §6: RSV1 marks a compressed message, on its first frame only; without the extension it
        // is a reserved bit like the others (RFC 6455 §5.2).
        if frame.rsv1, deflate == nil || !(frame.opcode == .text || frame.opcode == .binary) {
            return fail(context, .reservedBitsSet)
        }
        switch frame.opcode {
        case .connectionClose, .ping, .pong:
            context.fireChannelRead(wrapInboundOut(frame))
        case .continuation:
            guard var message = assembling else { return fail(context, .unexpectedContinuation) }
            assembling = nil
            var fragment = frame.unmaskedData
            guard message.data.readableBytes + fragment.readableBytes <= maxMessageBytes else {
                return fail(context, .messageTooLarge)
            }
            message.data.writeBuffer(&fragment)
            if frame.fin {
                deliver(context, message.opcode, message.data, compressed: message.compressed)
            } else {
                assembling = message
            }
        case .text, .binary:
            guard assembling == nil else { return fail(context, .interleavedMessage) }
            if frame.fin {
                if frame.rsv1 {
                    deliver(context, frame.opcode, frame.unmaskedData, compressed: true)
                } else {
                    context.fireChannelRead(wrapInboundOut(frame))
                }
            } else {
                assembling = (frame.opcode, frame.unmaskedData, frame.rsv1)
            }
        default:
            fail(context, .unknownOpcode)
        }
    }

    private func deliver(
        _ context: ChannelHandlerContext, _ opcode: WebSocketOpcode, _ data: ByteBuffer, compressed: Bool
    ) {
        var payload = data
        if compressed {
            do {
                payload = try WebSocketDeflateCodec.current.decompress(
                    data, maxBytes: maxMessageBytes, allocator: context.channel.allocator)
            } catch {
                return fail(context, error)
            }
        }
        context.fireChannelRead(wrapInboundOut(WebSocketFrame(fin: true, opcode: opcode, data: payload)))
    }

    private func fail(_ context: ChannelHandlerContext, _ violation: WebSocketViolation) {
        failed = true
        assembling = nil
        context.fireErrorCaught(violation)
    }
}

/// A frame or message that breaks RFC 6455 (or our size limit) in a way NIO's decoder does not check.
package enum WebSocketViolation: Error, Sendable {
    case unmaskedClientFrame
    case reservedBitsSet
    case unexpectedContinuation
    case interleavedMessage
    case unknownOpcode
    case messageTooLarge
    /// A message marked compressed (RSV1) whose payload is not a deflate stream (RFC 7692 §6.2).
    case invalidCompressedData
}

/// Close codes a peer may send (RFC 6455 §7.4.1/§7.4.2): the defined 1000–1003 and 1007–1011, and the
/// registered/private range 3000–4999. 1005, 1006 and 1015 must never be sent.
package enum WebSocketCloseCode {
    package static func isValidReceived(_ code: UInt16) -> Bool {
        (1000...1003).contains(code) || (1007...1011).contains(code) || (3000...4999).contains(code)
    }

    /// The close code and reason for an error raised in a WebSocket pipeline: 1009 for a frame or message
    /// over the limit, 1002 for any other protocol violation; nil for errors that are not the peer's
    /// protocol mistakes (I/O errors), where the connection is simply closed.
    package static func forError(_ error: any Error) -> (code: UInt16, reason: String)? {
        switch error {
        case NIOWebSocketError.invalidFrameLength, WebSocketViolation.messageTooLarge: (1009, "message too large")
        // The payload cannot be what its frame says it is (RFC 6455 §7.4.1, as for text that is not UTF-8).
        case WebSocketViolation.invalidCompressedData: (1007, "invalid compressed data")
        case is NIOWebSocketError, is WebSocketViolation: (1002, "protocol error")
        default: nil
        }
    }

    /// What to answer a received close frame with (RFC 6455 §5.5.1): echo its code (1000 when it had
    /// none), or fail with 1002 (one-byte body, invalid code) or 1007 (reason not UTF-8).
    package static func answer(toCloseBody body: ByteBuffer) -> (code: UInt16, reason: String, isFailure: Bool) {
        var body = body
        if body.readableBytes == 1 { return (1002, "close body of one byte", true) }
        guard let code = body.readInteger(as: UInt16.self) else { return (1000, "", false) }
        if !isValidReceived(code) { return (1002, "invalid close code \(code)", true) }
        if body.readableBytes > 0, !body.withUnsafeReadableBytes(UTF8Validation.isValid) {
            return (1007, "close reason is not UTF-8", true)
        }
        return (code, "", false)
    }
}
