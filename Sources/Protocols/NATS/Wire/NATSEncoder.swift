public import NIOCore

/// Writes server operations. `MSG`/`HMSG` are written straight into a connection's outbound buffer,
/// one after another, and flushed once per batch.
public enum NATSEncoder {
    /// `MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n`.
    @inline(__always)
    public static func message(
        _ buffer: inout ByteBuffer, subject: ByteBuffer, sid: ByteBuffer, replyTo: ByteBuffer?, payload: ByteBuffer
    ) {
        buffer.writeInteger(0x4D53_4720 as UInt32)  // "MSG "
        buffer.writeImmutableBuffer(subject)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeImmutableBuffer(sid)
        buffer.writeInteger(UInt8(ascii: " "))
        if let replyTo {
            buffer.writeImmutableBuffer(replyTo)
            buffer.writeInteger(UInt8(ascii: " "))
        }
        writeDecimal(&buffer, payload.readableBytes)
        buffer.writeInteger(0x0D0A as UInt16)
        buffer.writeImmutableBuffer(payload)
        buffer.writeInteger(0x0D0A as UInt16)
    }

    /// `HMSG <subject> <sid> [reply] <header size> <total size>\r\n<headers><payload>\r\n`.
    public static func headerMessage(
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

    public static func ping(_ buffer: inout ByteBuffer) { buffer.writeStaticString("PING\r\n") }
    public static func pong(_ buffer: inout ByteBuffer) { buffer.writeStaticString("PONG\r\n") }
    public static func ok(_ buffer: inout ByteBuffer) { buffer.writeStaticString("+OK\r\n") }

    /// `-ERR '<text>'`.
    public static func error(_ buffer: inout ByteBuffer, _ error: NATSProtocolError) {
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
    public static func writeDecimal(_ buffer: inout ByteBuffer, _ value: Int) {
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
