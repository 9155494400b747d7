package import NIOCore

/// Writing MessagePack straight into a `ByteBuffer`, always in the smallest format that holds the value
/// (msgpack spec.md §Serialization: fixint before uint 8 before uint 16 …, fixstr before str 8 …). The
/// header writers let the hot path encode a message without building `MessagePackValue`s: an array
/// header, then each element with the writer for its type.
extension ByteBuffer {
    /// Writes `value`.
    package mutating func writeMessagePack(_ value: MessagePackValue) {
        switch value {
        case .nil: writeMessagePackNil()
        case .bool(let flag): writeMessagePackBool(flag)
        case .int(let integer): writeMessagePackInteger(integer)
        case .uint(let integer): writeMessagePackInteger(integer)
        case .float(let float): writeMessagePackFloat(float)
        case .double(let double): writeMessagePackDouble(double)
        case .string(let text): writeMessagePackString(text)
        case .binary(let bytes): writeMessagePackBinary(bytes)
        case .array(let elements):
            writeMessagePackArrayHeader(elements.count)
            for element in elements { writeMessagePack(element) }
        case .map(let pairs):
            writeMessagePackMapHeader(pairs.count)
            for (key, value) in pairs {
                writeMessagePack(key)
                writeMessagePack(value)
            }
        case .ext(let type, let data): writeMessagePackExtension(type: type, data: data)
        }
    }

    /// nil: 0xc0.
    package mutating func writeMessagePackNil() { writeInteger(UInt8(0xC0)) }

    /// false 0xc2, true 0xc3.
    package mutating func writeMessagePackBool(_ flag: Bool) { writeInteger(UInt8(flag ? 0xC3 : 0xC2)) }

    /// A signed integer: positive values as `writeMessagePackInteger(_: UInt64)` does; negative ones as
    /// negative fixint (−32…−1), int 8, int 16, int 32 or int 64.
    package mutating func writeMessagePackInteger(_ value: Int64) {
        if value >= 0 {
            writeMessagePackInteger(UInt64(value))
        } else if value >= -32 {
            writeInteger(Int8(value))
        } else if value >= Int64(Int8.min) {
            writeMultipleIntegers(UInt8(0xD0), Int8(value))
        } else if value >= Int64(Int16.min) {
            writeMultipleIntegers(UInt8(0xD1), Int16(value))
        } else if value >= Int64(Int32.min) {
            writeMultipleIntegers(UInt8(0xD2), Int32(value))
        } else {
            writeMultipleIntegers(UInt8(0xD3), value)
        }
    }

    /// A non-negative integer: positive fixint (0…127), uint 8, uint 16, uint 32 or uint 64.
    package mutating func writeMessagePackInteger(_ value: UInt64) {
        if value <= 0x7F {
            writeInteger(UInt8(value))
        } else if value <= UInt64(UInt8.max) {
            writeMultipleIntegers(UInt8(0xCC), UInt8(value))
        } else if value <= UInt64(UInt16.max) {
            writeMultipleIntegers(UInt8(0xCD), UInt16(value))
        } else if value <= UInt64(UInt32.max) {
            writeMultipleIntegers(UInt8(0xCE), UInt32(value))
        } else {
            writeMultipleIntegers(UInt8(0xCF), value)
        }
    }

    /// float 32: 0xca and the big-endian IEEE 754 bits.
    package mutating func writeMessagePackFloat(_ value: Float) {
        writeMultipleIntegers(UInt8(0xCA), value.bitPattern)
    }

    /// float 64: 0xcb and the big-endian IEEE 754 bits.
    package mutating func writeMessagePackDouble(_ value: Double) {
        writeMultipleIntegers(UInt8(0xCB), value.bitPattern)
    }

    /// A str: header then the UTF-8 bytes.
    package mutating func writeMessagePackString(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            writeMessagePackStringHeader(utf8.count)
            writeBytes(utf8)
        }
    }

    /// A str whose UTF-8 bytes are the readable bytes of `utf8` (which must be UTF-8): a text payload
    /// written without making a `String` of it.
    package mutating func writeMessagePackString(utf8: ByteBuffer) {
        writeMessagePackStringHeader(utf8.readableBytes)
        writeImmutableBuffer(utf8)
    }

    /// The header of a str of `length` bytes: fixstr (up to 31), str 8, str 16 or str 32.
    package mutating func writeMessagePackStringHeader(_ length: Int) {
        if length <= 31 {
            writeInteger(UInt8(0xA0) | UInt8(length))
        } else if length <= Int(UInt8.max) {
            writeMultipleIntegers(UInt8(0xD9), UInt8(length))
        } else if length <= Int(UInt16.max) {
            writeMultipleIntegers(UInt8(0xDA), UInt16(length))
        } else {
            writeMultipleIntegers(UInt8(0xDB), UInt32(length))
        }
    }

    /// A bin: bin 8, bin 16 or bin 32 header, then the readable bytes of `bytes`.
    package mutating func writeMessagePackBinary(_ bytes: ByteBuffer) {
        writeMessagePackBinaryHeader(bytes.readableBytes)
        writeImmutableBuffer(bytes)
    }

    /// The header of a bin of `length` bytes.
    package mutating func writeMessagePackBinaryHeader(_ length: Int) {
        if length <= Int(UInt8.max) {
            writeMultipleIntegers(UInt8(0xC4), UInt8(length))
        } else if length <= Int(UInt16.max) {
            writeMultipleIntegers(UInt8(0xC5), UInt16(length))
        } else {
            writeMultipleIntegers(UInt8(0xC6), UInt32(length))
        }
    }

    /// The header of an array of `count` elements: fixarray (up to 15), array 16 or array 32.
    package mutating func writeMessagePackArrayHeader(_ count: Int) {
        if count <= 15 {
            writeInteger(UInt8(0x90) | UInt8(count))
        } else if count <= Int(UInt16.max) {
            writeMultipleIntegers(UInt8(0xDC), UInt16(count))
        } else {
            writeMultipleIntegers(UInt8(0xDD), UInt32(count))
        }
    }

    /// The header of a map of `count` key/value pairs: fixmap (up to 15), map 16 or map 32.
    package mutating func writeMessagePackMapHeader(_ count: Int) {
        if count <= 15 {
            writeInteger(UInt8(0x80) | UInt8(count))
        } else if count <= Int(UInt16.max) {
            writeMultipleIntegers(UInt8(0xDE), UInt16(count))
        } else {
            writeMultipleIntegers(UInt8(0xDF), UInt32(count))
        }
    }

    /// An extension: fixext 1/2/4/8/16 when the data has one of those lengths, else ext 8, 16 or 32.
    package mutating func writeMessagePackExtension(type: Int8, data: ByteBuffer) {
        let length = data.readableBytes
        switch length {
        case 1: writeMultipleIntegers(UInt8(0xD4), type)
        case 2: writeMultipleIntegers(UInt8(0xD5), type)
        case 4: writeMultipleIntegers(UInt8(0xD6), type)
        case 8: writeMultipleIntegers(UInt8(0xD7), type)
        case 16: writeMultipleIntegers(UInt8(0xD8), type)
        case ...Int(UInt8.max): writeMultipleIntegers(UInt8(0xC7), UInt8(length), type)
        case ...Int(UInt16.max): writeMultipleIntegers(UInt8(0xC8), UInt16(length), type)
        default: writeMultipleIntegers(UInt8(0xC9), UInt32(length), type)
        }
        writeImmutableBuffer(data)
    }

    /// A timestamp (extension −1) in its smallest form.
    package mutating func writeMessagePackTimestamp(_ timestamp: MessagePackTimestamp) {
        writeMessagePackExtension(type: MessagePackTimestamp.extensionType, data: timestamp.data)
    }
}
