package import NIOCore
package import NIOWebSocket

/// Checks every client frame against the RFC 6455 rules NIO's decoder leaves to the server, then
/// reassembles fragmented messages:
/// - a client frame must be masked (§5.1), reserved bits must be clear without an extension (§5.2);
/// - a continuation needs a message in progress, a new data frame needs none (§5.4);
/// - control frames may arrive between fragments and pass straight through (§5.4);
/// - a message may not exceed `maxMessageBytes` (the endpoint closes with 1009).
/// The message size is the only bound on fragments: memory is what it protects, and a message in
/// 64-byte fragments takes no more of it than the same message in one frame (Autobahn 9.3, 9.4).
/// A violation is raised as `WebSocketViolation` and everything after it is dropped. Whole messages
/// leave as one final frame (unmasked when reassembled).
package final class WebSocketClientFrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = WebSocketFrame
    package typealias InboundOut = WebSocketFrame

    private let maxMessageBytes: Int
    private var failed = false
    private var assembling: (opcode: WebSocketOpcode, data: ByteBuffer)?

    package init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = unwrapInboundIn(data)
        if frame.maskKey == nil { return fail(context, .unmaskedClientFrame) }
        if frame.rsv1 || frame.rsv2 || frame.rsv3 { return fail(context, .reservedBitsSet) }
        switch frame.opcode {
        case .connectionClose, .ping, .pong:
            context.fireChannelRead(data)
        case .continuation:
            guard var message = assembling else { return fail(context, .unexpectedContinuation) }
            assembling = nil
            var fragment = frame.unmaskedData
            guard message.data.readableBytes + fragment.readableBytes <= maxMessageBytes else {
                return fail(context, .messageTooLarge)
            }
            message.data.writeBuffer(&fragment)
            if frame.fin {
                context.fireChannelRead(
                    wrapInboundOut(WebSocketFrame(fin: true, opcode: message.opcode, data: message.data)))
            } else {
                assembling = message
            }
        case .text, .binary:
            guard assembling == nil else { return fail(context, .interleavedMessage) }
            if frame.fin {
                context.fireChannelRead(data)
            } else {
                assembling = (frame.opcode, frame.unmaskedData)
            }
        default:
            fail(context, .unknownOpcode)
        }
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
        if body.readableBytes > 0, body.withUnsafeReadableBytes({ String(validating: $0, as: UTF8.self) == nil }) {
            return (1007, "close reason is not UTF-8", true)
        }
        return (code, "", false)
    }
}
