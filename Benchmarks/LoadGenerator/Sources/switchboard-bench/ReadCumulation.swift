import NIOCore

/// The unparsed tail of the previous read. It is joined with the next read in a fresh buffer, so bytes
/// already consumed are never copied again (a plain append would drag them along, and copy them on
/// write, on every read).
struct ReadCumulation {
    private var pending: ByteBuffer?

    /// Puts the kept tail in front of `buffer`.
    mutating func prepend(to buffer: inout ByteBuffer, allocator: ByteBufferAllocator) {
        guard var tail = pending else { return }
        pending = nil
        var joined = allocator.buffer(capacity: tail.readableBytes + buffer.readableBytes)
        joined.writeBuffer(&tail)
        joined.writeBuffer(&buffer)
        buffer = joined
    }

    /// Keeps what a read left unparsed (nothing when it was all consumed).
    mutating func keep(_ remainder: ByteBuffer) {
        pending = remainder.readableBytes > 0 ? remainder : nil
    }
}
