package import NIOCore
package import NIOWebSocket

/// RFC 6455 rules NIO's frame decoder leaves to the server, checked on every frame before fragments are
/// reassembled: a client frame must be masked (§5.1), and reserved bits must be clear when no extension
/// was negotiated (§5.2). A violation is raised as `WebSocketViolation` (the endpoint closes with 1002)
/// and everything after it is dropped.
package final class WebSocketClientFrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = WebSocketFrame
    package typealias InboundOut = WebSocketFrame

    private var failed = false

    package init() {}

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = unwrapInboundIn(data)
        let violation: WebSocketViolation? =
            if frame.maskKey == nil { .unmaskedClientFrame }
            else if frame.rsv1 || frame.rsv2 || frame.rsv3 { .reservedBitsSet }
            else { nil }
        if let violation {
            failed = true
            context.fireErrorCaught(violation)
            return
        }
        context.fireChannelRead(data)
    }
}

/// A frame that breaks RFC 6455 in a way NIO's decoder does not check.
package enum WebSocketViolation: Error, Sendable {
    case unmaskedClientFrame
    case reservedBitsSet
}

/// Close codes a peer may send (RFC 6455 §7.4.1/§7.4.2): the defined 1000–1003 and 1007–1011, and the
/// registered/private range 3000–4999. 1005, 1006 and 1015 must never be sent.
package enum WebSocketCloseCode {
    package static func isValidReceived(_ code: UInt16) -> Bool {
        (1000...1003).contains(code) || (1007...1011).contains(code) || (3000...4999).contains(code)
    }
}
