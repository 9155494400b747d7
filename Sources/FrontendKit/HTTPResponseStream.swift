package import NIOCore

/// A response body written over time (Server-Sent Events). The route answers with an `HTTPResponse`
/// whose `stream` is set; `HTTPServerHandler` writes the head (flushed after `streamStarted`, so a
/// client never sees the head of a stream that is not yet subscribed), and from then on the stream
/// owns the connection's body through an `HTTPStreamWriter` until one side ends it. Both calls arrive on
/// the connection's loop.
package protocol HTTPResponseStream: AnyObject, Sendable {
    /// The head is written (flushed when this returns); write the body through `writer` from now on.
    func streamStarted(_ writer: HTTPStreamWriter)
    /// The connection closed (client gone, `writer.finish()` done, server shutdown): stop writing and
    /// release what the stream holds. Called exactly once after `streamStarted` (a stream that never
    /// started — the client left first, or it was a `HEAD` request — acquires nothing and is not called).
    func streamEnded()
    /// The connection's outbound buffer went over its high water mark (`writable` false) or back below its
    /// low one (publisher flow control); `HTTPStreamWriter.isWritable` already says so.
    func streamWritabilityChanged(_ writable: Bool)
}

extension HTTPResponseStream {
    package func streamWritabilityChanged(_ writable: Bool) {}
}

/// Writes a streamed body. Bytes must be framed by `HTTPStreamWriter.frame` for this writer's
/// `isChunked`, so one framed buffer can be written to every stream of the same kind without copies.
/// Confined to the connection's loop.
package final class HTTPStreamWriter {
    /// Whether the body uses chunked transfer coding (HTTP/1.1); an HTTP/1.0 body is delimited by close.
    package let isChunked: Bool
    package let eventLoop: any EventLoop
    /// Mirrors the channel's writability (the handler updates it), so the per-delivery check is a field
    /// read, not an atomic load through the channel.
    package internal(set) var isWritable: Bool
    private var core: (any ChannelCore)?
    private let channel: any Channel
    /// Under TLS: the context of the handler right behind the TLS handler (`TLSPlaintextEntry`), whose
    /// writes reach the TLS handler next and nothing else — the body is framed already, so the HTTP
    /// handlers are passed by as the core would pass them by.
    private let encryptedPath: ChannelHandlerContext?

    init(context: ChannelHandlerContext, chunked: Bool) {
        self.isChunked = chunked
        self.eventLoop = context.eventLoop
        self.channel = context.channel
        self.core = context.channel._channelCore
        self.isWritable = context.channel.isWritable
        self.encryptedPath = try? context.pipeline.syncOperations.context(handlerType: TLSPlaintextEntry.self)
    }

    /// Bytes waiting in the connection's outbound buffer (nil once it is closed): whether a slow client is
    /// still reading (publisher flow control).
    package var bufferedBytes: Int? {
        guard core != nil else { return nil }
        return try? channel.syncOptions?.getOption(.bufferedWritableBytes)
    }

    /// False once the stream is finished or the connection closed.
    package var isOpen: Bool { core != nil }

    /// Writes framed bytes without flushing. Framed bytes need no pipeline handler, so they go to the
    /// socket's write buffer directly (as WebSocket deliveries do: no hops per stream per message).
    package func write(_ framed: ByteBuffer) {
        guard let core else { return }
        if let encryptedPath {
            encryptedPath.write(NIOAny(framed), promise: nil)
        } else {
            core.write0(NIOAny(framed), promise: nil)
        }
    }

    package func flush() {
        guard let core else { return }
        if let encryptedPath { encryptedPath.flush() } else { core.flush0() }
    }

    /// Ends the body (the last chunk, RFC 9112 §7.1) and closes the connection once it is written.
    package func finish() {
        guard let core else { return }
        self.core = nil
        let channel = self.channel
        if isChunked {
            let promise = eventLoop.makePromise(of: Void.self)
            if let encryptedPath {
                encryptedPath.writeAndFlush(NIOAny(ByteBuffer(staticString: "0\r\n\r\n")), promise: promise)
            } else {
                core.write0(NIOAny(ByteBuffer(staticString: "0\r\n\r\n")), promise: promise)
                core.flush0()
            }
            promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
            // A client that stopped reading must not hold the connection open.
            eventLoop.scheduleTask(in: ConnectionLifecycle.closeGracePeriod) { channel.close(promise: nil) }
        } else {
            channel.close(promise: nil)
        }
    }

    func detach() { core = nil }

    /// Room kept in front of a framed body for the chunk-size line: 8 hex digits + CRLF.
    private static let chunkHeaderRoom = 10

    /// Builds a body part once: `write` produces the bytes; with `chunked` they are wrapped in one chunk
    /// (RFC 9112 §7.1: size in hex, CRLF, data, CRLF) whose size line is placed in front afterwards, so
    /// the body is written once and never copied.
    package static func frame(
        chunked: Bool, capacity: Int = 256, allocator: ByteBufferAllocator = ByteBufferAllocator(),
        _ write: (inout ByteBuffer) -> Void
    ) -> ByteBuffer {
        guard chunked else {
            var buffer = allocator.buffer(capacity: capacity)
            write(&buffer)
            return buffer
        }
        var buffer = allocator.buffer(capacity: capacity + chunkHeaderRoom + 2)
        buffer.moveWriterIndex(forwardBy: chunkHeaderRoom)
        buffer.moveReaderIndex(forwardBy: chunkHeaderRoom)
        write(&buffer)
        let length = buffer.readableBytes
        precondition(length > 0, "an empty chunk would end the body")
        buffer.writeStaticString("\r\n")
        let size = String(length, radix: 16)
        let start = chunkHeaderRoom - size.utf8.count - 2
        buffer.setString(size, at: start)
        buffer.setStaticString("\r\n", at: start + size.utf8.count)
        buffer.moveReaderIndex(to: start)
        return buffer
    }
}
