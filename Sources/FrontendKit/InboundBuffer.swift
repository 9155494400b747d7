package import NIOCore

/// The bytes a byte-stream connection (MQTT, NATS, AMQP, STOMP over TCP or a WebSocket bridge) has read
/// and not yet decoded, and whether decoding is held — while a password is checked off the loop or a
/// session is fetched from another loop, the client may already have pipelined its next packets, and
/// they must wait, in order, until the answer comes.
///
/// The decode loop takes the bytes out (`next()`), decodes from its own copy of the `ByteBuffer` (so
/// nothing is copied on write) and puts back what is left (`keep(_:)`) before it acts on a packet:
/// acting may hold input, or re-enter the loop (a session answer that came synchronously), and both
/// then find the rest here. A read that arrives while bytes wait is appended to them; only then is the
/// consumed front dropped, once per read and never per packet, so a buffer never grows by the bytes
/// already decoded and a read that holds whole packets is decoded where NIO put it, uncopied.
/// Its methods are `@inlinable`: they run per packet on every protocol's read path, from another module.
package struct InboundBuffer {
    @usableFromInline var pending: ByteBuffer?
    /// Decoding is held: `next()` gives nothing until `release()`.
    @usableFromInline package internal(set) var isHeld = false

    @inlinable
    package init() {}

    /// A read arrives: it becomes the pending bytes, or is appended to those still waiting.
    @inlinable
    package mutating func append(_ read: inout ByteBuffer) {
        guard var waiting = pending, waiting.readableBytes > 0 else {
            pending = read
            return
        }
        pending = nil  // unique, so appending does not copy what waits
        // The decoded front goes before the buffer grows: appending behind it would grow the storage by
        // every byte ever read (and past 16 MiB NIO can no longer slice it without copying).
        waiting.discardReadBytes()
        waiting.writeBuffer(&read)
        pending = waiting
    }

    /// The bytes to decode, taken out; nil while held or when nothing waits.
    @inlinable
    package mutating func next() -> ByteBuffer? {
        guard !isHeld, let bytes = pending, bytes.readableBytes > 0 else { return nil }
        pending = nil
        return bytes
    }

    /// What a decode left unread (a partial packet, or packets not yet acted on), kept for later.
    @inlinable
    package mutating func keep(_ rest: ByteBuffer) {
        pending = rest.readableBytes > 0 ? rest : nil
    }

    /// Holds decoding: reads are kept, in order, until `release()`.
    @inlinable
    package mutating func hold() {
        isHeld = true
    }

    /// Ends a hold; the caller then decodes what waits (`next()`).
    @inlinable
    package mutating func release() {
        isHeld = false
    }

    /// Drops everything (the connection closed).
    @inlinable
    package mutating func removeAll() {
        pending = nil
    }

    /// Bytes waiting to be decoded.
    @inlinable
    package var readableBytes: Int { pending?.readableBytes ?? 0 }
}
