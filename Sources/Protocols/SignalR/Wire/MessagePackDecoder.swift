package import NIOCore

/// Reads MessagePack values (msgpack spec.md §Formats) from a `ByteBuffer`. Input is one whole message
/// (SignalR frames it first), so a value cut short is malformed, not "need more bytes".
///
/// Nothing is allocated for a length the input claims before the bytes are there: a str, bin or ext
/// length must fit in what is left, an array count too (every element takes at least one byte), and a
/// map count in half of it. Nesting is bounded by `MessagePackLimits.maxDepth`.
package enum MessagePackDecoder {
    /// Decodes one value at the reader index and moves past it; on error the buffer is left as it was.
    package static func decode(
        _ buffer: inout ByteBuffer, limits: MessagePackLimits = MessagePackLimits()
    ) throws(SignalRWireError) -> MessagePackValue {
        var reader = buffer
        let value = try decodeValue(&reader, limits: limits, depth: 0)
        buffer = reader
        return value
    }

    /// Decodes a value that must span all of `bytes`.
    package static func decodeWhole(
        _ bytes: ByteBuffer, limits: MessagePackLimits = MessagePackLimits()
    ) throws(SignalRWireError) -> MessagePackValue {
        var reader = bytes
        let value = try decodeValue(&reader, limits: limits, depth: 0)
        guard reader.readableBytes == 0 else {
            throw .invalidMessagePack("\(reader.readableBytes) bytes after the value")
        }
        return value
    }

    private static func decodeValue(
        _ buffer: inout ByteBuffer, limits: MessagePackLimits, depth: Int
    ) throws(SignalRWireError) -> MessagePackValue {
        let format: UInt8 = try read(&buffer)
        switch format {
        case 0x00...0x7F: return .int(Int64(format))
        case 0x80...0x8F: return try map(&buffer, count: Int(format & 0x0F), limits: limits, depth: depth)
        case 0x90...0x9F: return try array(&buffer, count: Int(format & 0x0F), limits: limits, depth: depth)
        case 0xA0...0xBF: return .string(try string(&buffer, length: Int(format & 0x1F)))
        case 0xC0: return .nil
        case 0xC1: throw .invalidMessagePack("format 0xc1 is never used")
        case 0xC2: return .bool(false)
        case 0xC3: return .bool(true)
        case 0xC4, 0xC5, 0xC6:
            let length = try readLength(&buffer, width: format - 0xC4)
            return .binary(try bytes(&buffer, length: length))
        case 0xC7, 0xC8, 0xC9:
            let length = try readLength(&buffer, width: format - 0xC7)
            return try ext(&buffer, length: length)
        case 0xCA: return .float(Float(bitPattern: try read(&buffer)))
        case 0xCB: return .double(Double(bitPattern: try read(&buffer)))
        case 0xCC: return .int(Int64(try read(&buffer) as UInt8))
        case 0xCD: return .int(Int64(try read(&buffer) as UInt16))
        case 0xCE: return .int(Int64(try read(&buffer) as UInt32))
        case 0xCF: return .integer(try read(&buffer))
        case 0xD0: return .int(Int64(try read(&buffer) as Int8))
        case 0xD1: return .int(Int64(try read(&buffer) as Int16))
        case 0xD2: return .int(Int64(try read(&buffer) as Int32))
        case 0xD3: return .int(try read(&buffer))
        // fixext 1, 2, 4, 8, 16.
        case 0xD4...0xD8: return try ext(&buffer, length: 1 << Int(format - 0xD4))
        case 0xD9, 0xDA, 0xDB:
            let length = try readLength(&buffer, width: format - 0xD9)
            return .string(try string(&buffer, length: length))
        case 0xDC, 0xDD:
            let count = try readLength(&buffer, width: format - 0xDC + 1)
            return try array(&buffer, count: count, limits: limits, depth: depth)
        case 0xDE, 0xDF:
            let count = try readLength(&buffer, width: format - 0xDE + 1)
            return try map(&buffer, count: count, limits: limits, depth: depth)
        default: return .int(Int64(Int8(bitPattern: format)))  // 0xe0...0xff: negative fixint
        }
    }

    /// A length or count of 8 (`width` 0), 16 (1) or 32 (2) bits.
    private static func readLength(_ buffer: inout ByteBuffer, width: UInt8) throws(SignalRWireError) -> Int {
        switch width {
        case 0: Int(try read(&buffer) as UInt8)
        case 1: Int(try read(&buffer) as UInt16)
        default: Int(try read(&buffer) as UInt32)
        }
    }

    private static func read<Integer: FixedWidthInteger>(_ buffer: inout ByteBuffer) throws(SignalRWireError) -> Integer
    {
        guard let value = buffer.readInteger(as: Integer.self) else { throw .invalidMessagePack("value cut short") }
        return value
    }

    private static func bytes(_ buffer: inout ByteBuffer, length: Int) throws(SignalRWireError) -> ByteBuffer {
        guard let slice = buffer.readSlice(length: length) else {
            throw .invalidMessagePack("length \(length) past the end of the message")
        }
        return slice
    }

    private static func string(_ buffer: inout ByteBuffer, length: Int) throws(SignalRWireError) -> String {
        let slice = try bytes(&buffer, length: length)
        let text = slice.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) }
        guard let text else { throw .invalidMessagePack("str is not UTF-8") }
        return text
    }

    private static func ext(_ buffer: inout ByteBuffer, length: Int) throws(SignalRWireError) -> MessagePackValue {
        let type: Int8 = try read(&buffer)
        let data = try bytes(&buffer, length: length)
        // §Timestamp extension type: a length other than 4, 8 or 12, or nanoseconds over 999,999,999,
        // is an error.
        if type == MessagePackTimestamp.extensionType, MessagePackTimestamp(data: data) == nil {
            throw .invalidMessagePack("malformed timestamp")
        }
        return .ext(type: type, data: data)
    }

    private static func array(
        _ buffer: inout ByteBuffer, count: Int, limits: MessagePackLimits, depth: Int
    ) throws(SignalRWireError) -> MessagePackValue {
        guard depth < limits.maxDepth else { throw .invalidMessagePack("nested too deeply") }
        // Every element takes at least one byte: a count past that is a lie, refused before reserving.
        guard count <= buffer.readableBytes else { throw .invalidMessagePack("array of \(count) past the end") }
        var elements: [MessagePackValue] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try decodeValue(&buffer, limits: limits, depth: depth + 1)) }
        return .array(elements)
    }

    private static func map(
        _ buffer: inout ByteBuffer, count: Int, limits: MessagePackLimits, depth: Int
    ) throws(SignalRWireError) -> MessagePackValue {
        guard depth < limits.maxDepth else { throw .invalidMessagePack("nested too deeply") }
        guard count <= buffer.readableBytes / 2 else { throw .invalidMessagePack("map of \(count) past the end") }
        var pairs: [(key: MessagePackValue, value: MessagePackValue)] = []
        pairs.reserveCapacity(count)
        for _ in 0..<count {
            let key = try decodeValue(&buffer, limits: limits, depth: depth + 1)
            pairs.append((key, try decodeValue(&buffer, limits: limits, depth: depth + 1)))
        }
        return .map(pairs)
    }
}
