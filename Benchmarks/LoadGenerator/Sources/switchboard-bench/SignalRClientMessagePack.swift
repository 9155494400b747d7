/// The MessagePack side of the benchmark's SignalR client (HubProtocol.md §MessagePack (MsgPack)
/// encoding, msgpack/msgpack spec.md): the few writers its messages need, the VarInt length prefix of
/// §Binary encoding, and a reader that finds a message's type, a completion's result kind and error
/// text, and skips anything else without building values.
enum SignalRClientMessagePack {
    /// §VarInt: a length takes at most 5 bytes and is at most 2^31 − 1.
    static let maximumLengthPrefixBytes = 5
    /// Deepest nesting the reader skips through; benchmark messages nest three levels.
    static let maximumDepth = 32

    /// `[1, {}, id or nil, target, …`: an invocation's first four items of six (arguments and stream ids
    /// follow).
    static func invocationHead(invocationID: Int?, target: String) -> [UInt8] {
        [0x96, 0x01, 0x80] + (invocationID.map { string(String($0)) } ?? [0xC0]) + string(target)
    }

    /// A whole message: the body behind its length prefix.
    static func message(_ body: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        writeLengthPrefix(body.count, into: &bytes)
        return bytes + body
    }

    /// A str: its header and UTF-8 bytes.
    static func string(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        return stringHeader(utf8.count) + utf8
    }

    /// The smallest str header for `length` bytes: fixstr, str 8, str 16 or str 32.
    static func stringHeader(_ length: Int) -> [UInt8] {
        switch length {
        case ..<32: return [0xA0 | UInt8(length)]
        case ..<256: return [0xD9, UInt8(length)]
        case ..<65_536: return [0xDA, UInt8(length >> 8), UInt8(length & 0xFF)]
        default: return [0xDB] + (0..<4).map { UInt8(truncatingIfNeeded: length >> (24 - 8 * $0)) }
        }
    }

    /// §VarInt: 7 bits a byte, least significant group first, the high bit set on all but the last.
    static func writeLengthPrefix(_ length: Int, into bytes: inout [UInt8]) {
        var value = length
        repeat {
            let group = UInt8(value & 0x7F)
            value >>= 7
            bytes.append(value > 0 ? group | 0x80 : group)
        } while value > 0
    }

    /// The length at `offset` and the bytes its prefix takes; nil while the prefix is incomplete.
    @inline(__always)
    static func readLengthPrefix(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws -> (Int, Int)? {
        var length = 0
        var index = 0
        while offset + index < bytes.count {
            guard index < maximumLengthPrefixBytes else { throw SignalRClientError.malformedLengthPrefix }
            let byte = bytes[offset + index]
            length |= Int(byte & 0x7F) << (7 * index)
            index += 1
            if byte & 0x80 == 0 {
                guard length <= Int(Int32.max) else { throw SignalRClientError.malformedLengthPrefix }
                return (length, index)
            }
        }
        return nil
    }

    /// Classifies one message body: `[1, …]` invocation, `[3, Headers, InvocationId, ResultKind,
    /// Result?]` completion (result kind 1 is an error, its text the result), `[6]` ping, `[7, Error, …]`
    /// close.
    static func classify(_ bytes: UnsafeRawBufferPointer) -> SignalRInboundMessage {
        var reader = Reader(bytes)
        guard let count = reader.readArrayHeader(), count >= 1, let type = reader.readInteger() else { return .other }
        switch type {
        case 1: return .invocation
        case 3:
            guard count >= 4, reader.skipValue(), reader.skipValue(), let kind = reader.readInteger() else {
                return .other
            }
            guard kind == 1 else { return .completion(error: nil) }
            return .completion(error: count >= 5 ? reader.readString() ?? "(no error text)" : "(no error text)")
        case 6: return .ping
        case 7: return .close(error: count >= 2 ? reader.readString() : nil)
        default: return .other
        }
    }

    /// Reads values from a whole message in place; every method returns nil (or false) for a value
    /// that is not of its kind or does not fit in the bytes left, and then the reader is not used again.
    struct Reader {
        private let bytes: UnsafeRawBufferPointer
        /// Where the next value starts.
        private(set) var index = 0

        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        /// An array's element count: fixarray, array 16, array 32.
        mutating func readArrayHeader() -> Int? {
            guard let format = readFormat() else { return nil }
            switch format {
            case 0x90...0x9F: return Int(format & 0x0F)
            case 0xDC: return readLength(width: 2)
            case 0xDD: return readLength(width: 4)
            default: return nil
            }
        }

        /// An integer in any of its formats (positive and negative fixint, uint 8-64, int 8-64).
        mutating func readInteger() -> Int? {
            guard let format = readFormat() else { return nil }
            switch format {
            case 0x00...0x7F: return Int(format)
            case 0xE0...0xFF: return Int(Int8(bitPattern: format))
            case 0xCC...0xCF:
                guard let value = readBigEndian(width: 1 << Int(format - 0xCC)) else { return nil }
                return Int(exactly: value)
            case 0xD0...0xD3:
                let width = 1 << Int(format - 0xD0)
                guard let value = readBigEndian(width: width) else { return nil }
                // Sign-extend from the value's width.
                let shift = UInt64(64 - 8 * width)
                return Int(Int64(bitPattern: value << shift) >> Int64(shift))
            default: return nil
            }
        }

        /// A str's text (fixstr, str 8, str 16, str 32); nil for any other value, nil included.
        mutating func readString() -> String? {
            guard let format = readFormat() else { return nil }
            let length: Int?
            switch format {
            case 0xA0...0xBF: length = Int(format & 0x1F)
            case 0xD9: length = readLength(width: 1)
            case 0xDA: length = readLength(width: 2)
            case 0xDB: length = readLength(width: 4)
            default: return nil
            }
            guard let length, bytes.count - index >= length else { return nil }
            defer { index += length }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + length)]), as: UTF8.self)
        }

        /// Steps over one value of any format; false when it is malformed, cut short or nested deeper than
        /// ``SignalRClientMessagePack/maximumDepth``.
        mutating func skipValue(depth: Int = 0) -> Bool {
            guard depth < SignalRClientMessagePack.maximumDepth, let format = readFormat() else { return false }
            // What follows the format byte (and its length): `data` bytes, then `elements` values.
            var data: Int? = 0
            var elements: Int? = 0
            switch format {
            case 0x00...0x7F, 0xE0...0xFF, 0xC0, 0xC2, 0xC3: break  // fixint, nil, false, true
            case 0x80...0x8F: elements = 2 * Int(format & 0x0F)
            case 0x90...0x9F: elements = Int(format & 0x0F)
            case 0xA0...0xBF: data = Int(format & 0x1F)
            case 0xC4...0xC6: data = readLength(width: 1 << Int(format - 0xC4))  // bin 8/16/32
            case 0xC7...0xC9: data = readLength(width: 1 << Int(format - 0xC7)).map { $0 + 1 }  // ext: type, data
            case 0xCA: data = 4
            case 0xCB: data = 8
            case 0xCC...0xCF: data = 1 << Int(format - 0xCC)
            case 0xD0...0xD3: data = 1 << Int(format - 0xD0)
            case 0xD4...0xD8: data = 1 + (1 << Int(format - 0xD4))  // fixext: type, data
            case 0xD9...0xDB: data = readLength(width: 1 << Int(format - 0xD9))  // str 8/16/32
            case 0xDC: elements = readLength(width: 2)
            case 0xDD: elements = readLength(width: 4)
            case 0xDE: elements = readLength(width: 2).map { 2 * $0 }
            case 0xDF: elements = readLength(width: 4).map { 2 * $0 }
            default: return false  // 0xC1: never used
            }
            // Every element takes at least a byte: a count past the bytes left is malformed, not a loop.
            guard let data, let elements, bytes.count - index >= data, bytes.count - index - data >= elements else {
                return false
            }
            index += data
            for _ in 0..<elements where !skipValue(depth: depth + 1) { return false }
            return true
        }

        private mutating func readFormat() -> UInt8? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        /// A big-endian length of `width` bytes.
        private mutating func readLength(width: Int) -> Int? {
            readBigEndian(width: width).flatMap { Int(exactly: $0) }
        }

        private mutating func readBigEndian(width: Int) -> UInt64? {
            guard bytes.count - index >= width else { return nil }
            var value: UInt64 = 0
            for offset in 0..<width { value = value << 8 | UInt64(bytes[index + offset]) }
            index += width
            return value
        }
    }
}
