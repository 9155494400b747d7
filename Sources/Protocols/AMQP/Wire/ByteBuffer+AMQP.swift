import BusCore
package import NIOCore

/// The AMQP domain types (§4.2.5) on `ByteBuffer`, all big-endian. Reads throw `malformed` when the
/// bytes run out: they are only used on a frame's payload, which is complete by the time it is parsed.
extension ByteBuffer {
    @inline(__always)
    package mutating func readAMQPOctet() throws(AMQPError) -> UInt8 {
        guard let value = readInteger(as: UInt8.self) else { throw .malformed("truncated octet") }
        return value
    }

    @inline(__always)
    package mutating func readAMQPShort() throws(AMQPError) -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else { throw .malformed("truncated short") }
        return value
    }

    @inline(__always)
    package mutating func readAMQPLong() throws(AMQPError) -> UInt32 {
        guard let value = readInteger(as: UInt32.self) else { throw .malformed("truncated long") }
        return value
    }

    @inline(__always)
    package mutating func readAMQPLongLong() throws(AMQPError) -> UInt64 {
        guard let value = readInteger(as: UInt64.self) else { throw .malformed("truncated long-long") }
        return value
    }

    /// A short string (§4.2.5.3): an octet length, then at most 255 bytes of UTF-8, made from the bytes
    /// where they lie. Bytes that are not UTF-8 are refused rather than replaced: names are compared and
    /// echoed back, and a replaced byte would make two names one.
    package mutating func readAMQPShortString() throws(AMQPError) -> String {
        let length = Int(try readAMQPOctet())
        guard length <= readableBytes else { throw .malformed("short string longer than the frame") }
        let string = withUnsafeReadableBytes { raw in
            Self.validatedUTF8(UnsafeRawBufferPointer(rebasing: raw[..<length]))
        }
        guard let string else { throw .malformed("short string is not UTF-8") }
        moveReaderIndex(forwardBy: length)
        return string
    }

    /// A long string (§4.2.5.3): a 32-bit length, then that many bytes, returned as a slice (no copy).
    /// The length is checked against what the (already frame-max-checked) payload holds before slicing.
    package mutating func readAMQPLongString() throws(AMQPError) -> ByteBuffer {
        let length = try readAMQPLong()
        guard length <= readableBytes, let bytes = readSlice(length: Int(length)) else {
            throw .malformed("long string longer than the frame")
        }
        return bytes
    }

    /// A long string that must be UTF-8 text (connection.start's mechanisms and locales).
    package mutating func readAMQPLongStringText() throws(AMQPError) -> String {
        let bytes = try readAMQPLongString()
        guard let string = bytes.withUnsafeReadableBytes({ Self.validatedUTF8($0) }) else {
            throw .malformed("long string is not UTF-8")
        }
        return string
    }

    /// The string `raw` holds, or nil when it is not well-formed UTF-8.
    package static func validatedUTF8(_ raw: UnsafeRawBufferPointer) -> String? {
        // UTF8Validation checks ASCII names eight bytes at a time.
        UTF8Validation.string(raw)
    }

    /// Writes a short string. Callers pass at most 255 bytes: names read from the wire are, and texts the
    /// server makes are cut first (`AMQPReplyCode.replyText`); a longer one is a programming error.
    @inline(__always)
    package mutating func writeAMQPShortString(_ string: String) {
        let count = string.utf8.count
        precondition(count <= AMQPLimits.maxShortStringBytes, "AMQP short strings are at most 255 bytes")
        writeInteger(UInt8(truncatingIfNeeded: count))
        writeString(string)
    }

    @inline(__always)
    package mutating func writeAMQPLongString(_ bytes: ByteBuffer) {
        writeInteger(UInt32(bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }

    package mutating func writeAMQPLongString(_ string: String) {
        writeInteger(UInt32(string.utf8.count))
        writeString(string)
    }

    /// Consecutive bit fields share octets, starting from the low bit (§4.2.5.2). No method has more than
    /// five in a row, so one octet always holds them.
    @inline(__always)
    package mutating func writeAMQPBits(_ bits: Bool...) {
        var octet: UInt8 = 0
        for (index, bit) in bits.enumerated() where bit { octet |= 1 << index }
        writeInteger(octet)
    }
}

extension UInt8 {
    /// Bit `index` (0: the lowest) of a packed bit octet (§4.2.5.2).
    @inline(__always)
    package func amqpBit(_ index: Int) -> Bool { self & (1 << index) != 0 }
}
