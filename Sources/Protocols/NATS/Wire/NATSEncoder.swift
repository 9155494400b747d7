package import NIOCore

/// Writes server operations. `MSG`/`HMSG` are written straight into a connection's outbound buffer,
/// one after another, and flushed once per batch.
package enum NATSEncoder {
    /// `MSG <subject> <sid> `: the part of a `MSG` that is the same for every message of one topic to one
    /// subscription, so a connection builds it once and reuses it.
    package static func messagePrefix(_ buffer: inout ByteBuffer, subject: ByteBuffer, sid: ByteBuffer) {
        buffer.writeInteger(0x4D53_4720 as UInt32)  // "MSG "
        buffer.writeImmutableBuffer(subject)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeImmutableBuffer(sid)
        buffer.writeInteger(UInt8(ascii: " "))
    }

    /// `MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n` from its prefix (`messagePrefix`): one
    /// capacity check and plain copies, since this runs once per message per subscriber.
    @inline(__always)
    package static func message(
        _ buffer: inout ByteBuffer, prefix: ByteBuffer, replyTo: ByteBuffer?, payload: ByteBuffer
    ) {
        let replyLength = replyTo.map { $0.readableBytes + 1 } ?? 0
        let size = payload.readableBytes
        let maximum = prefix.readableBytes + replyLength + 20 + 2 + size + 2
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: maximum) { out in
            var at = copy(prefix, to: out, at: 0)
            if let replyTo {
                at = copy(replyTo, to: out, at: at)
                out[at] = UInt8(ascii: " ")
                at += 1
            }
            at = writeDecimal(size, to: out, at: at)
            out[at] = 0x0D
            out[at + 1] = 0x0A
            at = copy(payload, to: out, at: at + 2)
            out[at] = 0x0D
            out[at + 1] = 0x0A
            return at + 2
        }
    }

    /// `MSG` without a reply subject, its payload from raw bytes (a packed run's).
    package static func message(_ buffer: inout ByteBuffer, prefix: ByteBuffer, payload: UnsafeRawBufferPointer) {
        let size = payload.count
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: prefix.readableBytes + 20 + 2 + size + 2) { out in
            var at = copy(prefix, to: out, at: 0)
            at = writeDecimal(size, to: out, at: at)
            out[at] = 0x0D
            out[at + 1] = 0x0A
            at += 2
            if let base = payload.baseAddress, size > 0 {
                (out.baseAddress! + at).copyMemory(from: base, byteCount: size)
            }
            at += size
            out[at] = 0x0D
            out[at + 1] = 0x0A
            return at + 2
        }
    }

    @inline(__always)
    private static func copy(_ source: ByteBuffer, to out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        source.withUnsafeReadableBytes { bytes in
            if let base = bytes.baseAddress, bytes.count > 0 {
                (out.baseAddress! + offset).copyMemory(from: base, byteCount: bytes.count)
            }
            return offset + bytes.count
        }
    }

    @inline(__always)
    private static func writeDecimal(_ value: Int, to out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var value = value
        var index = offset + digits - 1
        while index >= offset {
            out[index] = UInt8(truncatingIfNeeded: value % 10) &+ 0x30
            value /= 10
            index -= 1
        }
        return offset + digits
    }

    /// `HMSG <subject> <sid> [reply] <header size> <total size>\r\n<headers><payload>\r\n`.
    package static func headerMessage(
        _ buffer: inout ByteBuffer, subject: ByteBuffer, sid: ByteBuffer, replyTo: ByteBuffer?, headers: ByteBuffer,
        payload: ByteBuffer
    ) {
        buffer.writeStaticString("HMSG ")
        buffer.writeImmutableBuffer(subject)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeImmutableBuffer(sid)
        buffer.writeInteger(UInt8(ascii: " "))
        if let replyTo {
            buffer.writeImmutableBuffer(replyTo)
            buffer.writeInteger(UInt8(ascii: " "))
        }
        writeDecimal(&buffer, headers.readableBytes)
        buffer.writeInteger(UInt8(ascii: " "))
        writeDecimal(&buffer, headers.readableBytes + payload.readableBytes)
        buffer.writeInteger(0x0D0A as UInt16)
        buffer.writeImmutableBuffer(headers)
        buffer.writeImmutableBuffer(payload)
        buffer.writeInteger(0x0D0A as UInt16)
    }

    package static func ping(_ buffer: inout ByteBuffer) { buffer.writeStaticString("PING\r\n") }
    package static func pong(_ buffer: inout ByteBuffer) { buffer.writeStaticString("PONG\r\n") }
    package static func ok(_ buffer: inout ByteBuffer) { buffer.writeStaticString("+OK\r\n") }

    /// `-ERR '<text>'`.
    package static func error(_ buffer: inout ByteBuffer, _ error: NATSProtocolError) {
        buffer.writeStaticString("-ERR '")
        // A quote or line break inside would end the operation early: the text is ours, but subjects
        // quoted into it come from clients.
        for byte in error.text.utf8 {
            buffer.writeInteger(byte == UInt8(ascii: "'") || byte == 0x0D || byte == 0x0A ? UInt8(ascii: " ") : byte)
        }
        buffer.writeStaticString("'\r\n")
    }

    /// A non-negative integer in decimal, without making a String.
    @inline(__always)
    package static func writeDecimal(_ buffer: inout ByteBuffer, _ value: Int) {
        if value < 10 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: value) &+ 0x30)
            return
        }
        var digits: (UInt64, UInt64) = (0, 0)  // up to 16 digits, most significant first
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { raw in
            var index = 16
            while rest > 0 && index > 0 {
                index -= 1
                raw[index] = UInt8(truncatingIfNeeded: rest % 10) &+ 0x30
                rest /= 10
                count += 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[(16 - count)...]))
        }
    }
}
