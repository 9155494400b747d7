package import NIOCore
import NIOSSL

extension ChannelHandlerContext {
    /// Whether pre-framed bytes may go to the channel's core directly, past the pipeline — the delivery
    /// fast path of the WebSocket and event-stream frontends. Not when a handler must still see them:
    /// TLS, which encrypts them (written past it they would reach the peer as plain text). Those
    /// connections write through the pipeline instead.
    package var mayWritePastPipeline: Bool {
        (try? pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)) == nil
    }
}

/// Sits right behind the TLS handler of an HTTPS listener and does nothing itself: a writer that frames
/// its bytes (an event stream's body) writes them through this handler's context, so they reach the TLS
/// handler next and no HTTP handler — the encrypted counterpart of writing to the channel's core.
final class TLSPlaintextEntry: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = Any
}
