import NIOCore

/// Sits in front of the TLS handler on a NATS port that requires TLS: a client that ignores INFO's
/// `tls_required` and talks plain text gets nats-server's `-ERR 'Secure Connection - TLS Required'`
/// instead of a silent close. A TLS record starts with 0x16 (handshake, RFC 8446 §5.1); then the
/// guard steps aside.
final class NATSTLSRequiredGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        if first == 0x16 {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
            return
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "-ERR 'Secure Connection - TLS Required'\r\n")))
            .whenComplete { _ in channel.close(promise: nil) }
    }
}
