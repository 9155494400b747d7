package import NIOCore

/// Splits the bytes of a binary (MessagePack) connection into messages: each one is preceded by its
/// length as a VarInt (hub protocol §Binary encoding, §VarInt): 7 bits a byte, least significant group
/// first, the high bit set on every byte but the last; at most 5 bytes, for lengths up to 2^31 − 1.
///
/// `next` returns a message's bytes (a slice, not a copy), or nil while the prefix or the body is
/// incomplete, leaving the reader index where it was. The length is checked against `maxMessageSize`
/// as soon as the prefix is read, before the body is waited for. A prefix with padding groups (`0x80
/// 0x00` for 0) is accepted, as ASP.NET Core's `BinaryMessageParser` accepts it; one of more than 5
/// bytes, or over 2^31 − 1, is refused.
package struct SignalRBinaryFrameDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = ByteBuffer

    /// The most bytes a length prefix takes (0x7fffffff is `0xff 0xff 0xff 0xff 0x07`).
    package static let maxPrefixBytes = 5

    /// Largest message accepted, prefix not counted.
    package var maxMessageSize: Int

    package init(maxMessageSize: Int = SignalRLimits().maxMessageSize) {
        self.maxMessageSize = maxMessageSize
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        try next(&buffer)
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        try next(&buffer)
    }

    /// The next message, or nil until all of it is in `buffer`.
    package func next(_ buffer: inout ByteBuffer) throws(SignalRWireError) -> ByteBuffer? {
        guard let prefix = try Self.lengthPrefix(of: buffer) else { return nil }
        guard prefix.length <= maxMessageSize else { throw .messageTooLarge(limit: maxMessageSize) }
        guard buffer.readableBytes >= prefix.bytes + prefix.length else { return nil }
        buffer.moveReaderIndex(forwardBy: prefix.bytes)
        return buffer.readSlice(length: prefix.length)!
    }

    /// The length prefix at the reader index and how many bytes it takes; nil when it is incomplete.
    package static func lengthPrefix(of buffer: ByteBuffer) throws(SignalRWireError) -> (length: Int, bytes: Int)? {
        var length = 0
        for index in 0..<maxPrefixBytes {
            guard let byte = buffer.getInteger(at: buffer.readerIndex + index, as: UInt8.self) else { return nil }
            length |= Int(byte & 0x7F) << (7 * index)
            guard byte & 0x80 != 0 else {
                // §VarInt: the biggest supported payload is 2 GB, 0x7fffffff, whose fifth byte is 0x07.
                guard index < maxPrefixBytes - 1 || byte <= 0x07 else {
                    throw .invalidFrame("Messages over 2GB in size are not supported.")
                }
                return (length, index + 1)
            }
        }
        throw .invalidFrame("A length prefix is at most 5 bytes.")
    }
}

extension ByteBuffer {
    /// Writes `length` as a message's VarInt length prefix.
    package mutating func writeSignalRLengthPrefix(_ length: Int) {
        let size = Self.signalRLengthPrefixSize(length)
        writeRepeatingByte(0, count: size)
        setSignalRLengthPrefix(length, size: size, at: writerIndex - size)
    }

    /// Writes one binary message: what `body` writes, preceded by its length prefix. The body is
    /// written first and then moved up by the prefix's size (one copy of the body, as ASP.NET Core's
    /// writer makes), since a VarInt's size is known only with the length.
    package mutating func writeSignalRBinaryMessage(_ body: (inout ByteBuffer) -> Void) {
        let start = writerIndex
        body(&self)
        let length = writerIndex - start
        let size = Self.signalRLengthPrefixSize(length)
        writeRepeatingByte(0, count: size)
        try! copyBytes(at: start, to: start + size, length: length)
        setSignalRLengthPrefix(length, size: size, at: start)
    }

    /// How many bytes the VarInt of `length` takes: one per started 7 bits.
    package static func signalRLengthPrefixSize(_ length: Int) -> Int {
        precondition(length >= 0 && length <= Int(Int32.max), "a SignalR message is at most 2^31 - 1 bytes")
        var size = 1
        while length >> (7 * size) != 0 { size += 1 }
        return size
    }

    private mutating func setSignalRLengthPrefix(_ length: Int, size: Int, at index: Int) {
        for group in 0..<size {
            let bits = UInt8(truncatingIfNeeded: length >> (7 * group)) & 0x7F
            setInteger(group < size - 1 ? bits | 0x80 : bits, at: index + group)
        }
    }
}
