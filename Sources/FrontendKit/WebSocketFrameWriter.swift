package import NIOCore
package import NIOWebSocket

/// Encodes complete server frames (unmasked, RFC 6455 §5.2) into one `ByteBuffer`, so a frame made once
/// can be written to any number of connections without re-encoding or copying.
package enum WebSocketFrameWriter {
    /// A whole frame: header followed by `payload`.
    package static func frame(
        _ opcode: WebSocketOpcode, payload: ByteBuffer, allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: payload.readableBytes + 10)
        writeHeader(opcode, length: payload.readableBytes, into: &buffer)
        buffer.writeImmutableBuffer(payload)
        return buffer
    }

    /// Writes a final-frame header for a payload of `length` bytes; `compressed` sets RSV1, permessage-deflate's
    /// "Per-Message Compressed" bit (RFC 7692 §6).
    package static func writeHeader(
        _ opcode: WebSocketOpcode, length: Int, compressed: Bool = false, into buffer: inout ByteBuffer
    ) {
        buffer.writeInteger(0x80 | (compressed ? 0x40 : 0) | UInt8(webSocketOpcode: opcode))
        if length < 126 {
            buffer.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
    }

    /// Builds a text frame whose payload `write` produces, with the header sized afterwards: the payload
    /// is written once, after room for the largest header, and the header is placed right before it.
    package static func textFrame(
        allocator: ByteBufferAllocator = ByteBufferAllocator(), capacity: Int = 256, _ write: (inout ByteBuffer) -> Void
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: capacity + 10)
        buffer.moveWriterIndex(forwardBy: 10)
        buffer.moveReaderIndex(forwardBy: 10)
        write(&buffer)
        prependHeader(.text, to: &buffer)
        return buffer
    }

    /// Puts a final-frame header right before `buffer`'s readable bytes, which must have 10 bytes free
    /// before them.
    static func prependHeader(_ opcode: WebSocketOpcode, compressed: Bool = false, to buffer: inout ByteBuffer) {
        let length = buffer.readableBytes
        let headerLength = length < 126 ? 2 : (length <= Int(UInt16.max) ? 4 : 10)
        let start = buffer.readerIndex - headerLength
        // Set in place, as `writeHeader` writes it (a header buffer of its own cost a frame two allocations).
        buffer.setInteger(0x80 | (compressed ? 0x40 : 0) | UInt8(webSocketOpcode: opcode), at: start)
        switch headerLength {
        case 2:
            buffer.setInteger(UInt8(length), at: start + 1)
        case 4:
            buffer.setInteger(UInt8(126), at: start + 1)
            buffer.setInteger(UInt16(length), at: start + 2)
        default:
            buffer.setInteger(UInt8(127), at: start + 1)
            buffer.setInteger(UInt64(length), at: start + 2)
        }
        buffer.moveReaderIndex(to: start)
    }

    /// A close frame with a status code and reason (RFC 6455 §5.5.1).
    package static func close(code: WebSocketErrorCode, reason: String = "") -> ByteBuffer {
        var payload = ByteBuffer()
        payload.write(webSocketErrorCode: code)
        payload.writeString(String(reason.utf8.prefix(120)) ?? "")
        return frame(.connectionClose, payload: payload)
    }
}
