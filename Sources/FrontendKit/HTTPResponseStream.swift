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
        return (try? channel.syncOptions?.getOption(.bufferedWritableBytes)).map { $0 + out.readableBytes }
    }

    /// Small parts written since the last flush, copied end to end: handed to the channel as one buffer per
    /// flush, so a flush of several events costs one pending write and one iovec rather than one of each
    /// per event (as WebSocket deliveries, `NativeWSConnectionHandler.coalescedFrameLimit`).
    private var out = ByteBuffer()

    /// False once the stream is finished or the connection closed.
    package var isOpen: Bool { core != nil }

    /// Writes framed bytes without flushing. Framed bytes need no pipeline handler, so they go to the
    /// socket's write buffer directly (as WebSocket deliveries do: no hops per stream per message).
    package func write(_ framed: ByteBuffer) {
        guard let core else { return }
        if framed.readableBytes <= Self.coalescedPartLimit {
            out.writeImmutableBuffer(framed)
            // Handed over before it grows large: the channel's writability lags a write by at most this.
            if out.readableBytes >= Self.coalescedBytesLimit { handOver(core) }
        } else {
            // A large part is shared, not copied; what was coalesced before it goes first.
            handOver(core)
            writeToChannel(framed, core)
        }
    }

    package func flush() {
        guard let core else { return }
        if out.readableBytes > 0 { writeToChannel(out, core) }
        if let encryptedPath { encryptedPath.flush() } else { core.flush0() }
        // The socket usually takes the bytes at once, and the storage is ours again: reused as it is.
        if out.capacity > Self.keptCapacity { out = ByteBuffer() } else { out.clear() }
    }

    /// Gives an empty coalescing buffer's storage back (an idle stream holds none): from a keep-alive tick.
    package func releaseIdleStorage() { out.releaseStorageIfEmpty() }

    /// Gives the channel what `out` holds, without flushing, and starts it afresh.
    private func handOver(_ core: any ChannelCore) {
        guard out.readableBytes > 0 else { return }
        writeToChannel(out, core)
        out = ByteBuffer()
    }

    private func writeToChannel(_ bytes: ByteBuffer, _ core: any ChannelCore) {
        if let encryptedPath {
            encryptedPath.write(NIOAny(bytes), promise: nil)
        } else {
            core.write0(NIOAny(bytes), promise: nil)
        }
    }

    /// Parts up to this size are copied into `out`; a larger one is written as the shared buffer it is.
    static let coalescedPartLimit = 2_048
    /// `out` is handed to the channel once it holds this much, before the flush.
    static let coalescedBytesLimit = 16 << 10
    /// A buffer that grew past this (a burst) is not kept for the next flush.
    static let keptCapacity = 64 << 10

    /// Ends the body (the last chunk, RFC 9112 §7.1) and closes the connection once it is written.
    package func finish() {
        guard let core else { return }
        self.core = nil
        handOver(core)
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

    func detach() {
        core = nil
        out = ByteBuffer()
    }

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
