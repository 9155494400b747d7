package import NIOCore

/// Writes STOMP frames. Header values are escaped as the connection's version says (never in
/// CONNECTED); a body is preceded by `content-length` whenever it is not empty, so bodies with NULs
/// survive (1.2 §"Header content-length").
package enum STOMPFrameEncoder {
    /// The EOL a heart-beat is.
    package static let heartBeat: UInt8 = UInt8(ascii: "\n")

    package static func write(_ frame: STOMPFrame, escaping: STOMPEscaping, to out: inout ByteBuffer) {
        out.writeString(frame.command.rawValue)
        out.writeInteger(UInt8(ascii: "\n"))
        let escaping = frame.command.escapesHeaders ? escaping : .none
        var wroteLength = false
        for header in frame.headers {
            if header.name == "content-length" {
                if wroteLength { continue }
                wroteLength = true
            }
            writeHeader(header.name, header.value, escaping: escaping, to: &out)
        }
        if !wroteLength && frame.body.readableBytes > 0 {
            writeContentLength(frame.body.readableBytes, to: &out)
        }
        out.writeInteger(UInt8(ascii: "\n"))
        out.writeImmutableBuffer(frame.body)
        out.writeInteger(UInt8(0))
    }

    /// `name:value` and its EOL.
    @inlinable
    package static func writeHeader(_ name: String, _ value: String, escaping: STOMPEscaping, to out: inout ByteBuffer)
    {
        if escaping.needsEscaping(name) {
            out.writeBytes(escaping.encode(name))
        } else {
            out.writeString(name)
        }
        out.writeInteger(UInt8(ascii: ":"))
        if escaping.needsEscaping(value) {
            out.writeBytes(escaping.encode(value))
        } else {
            out.writeString(value)
        }
        out.writeInteger(UInt8(ascii: "\n"))
    }

    /// `content-length:<n>` and its EOL.
    @inlinable
    package static func writeContentLength(_ length: Int, to out: inout ByteBuffer) {
        out.writeStaticString("content-length:")
        writeDecimal(length, to: &out)
        out.writeInteger(UInt8(ascii: "\n"))
    }

    /// A non-negative integer in decimal, without a String.
    @inlinable
    package static func writeDecimal(_ value: Int, to out: inout ByteBuffer) {
        guard value > 0 else {
            out.writeInteger(UInt8(ascii: "0"))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { scratch in
            while rest > 0 {
                scratch[23 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            out.writeBytes(UnsafeRawBufferPointer(rebasing: scratch[(24 - count)...]))
        }
    }
}
