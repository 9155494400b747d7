import BusCore
package import NIOCore

/// The MQTT data representations (MQTT 5.0 §1.5) on `ByteBuffer`. Reads throw `malformedPacket` when the
/// bytes run out: they are only used on a packet's body, which is complete by the time it is parsed.
extension ByteBuffer {
    /// Variable Byte Integer (§1.5.5): 7 bits per byte, at most four bytes.
    package mutating func readMQTTVariableByteInteger() throws(MQTTError) -> Int {
        switch peekMQTTVariableByteInteger() {
        case .value(let value, let length):
            moveReaderIndex(forwardBy: length)
            return value
        case .needMore: throw .malformedPacket("truncated variable byte integer")
        case .malformed: throw .malformedPacket("variable byte integer longer than four bytes")
        }
    }

    /// The outcome of peeking at a Variable Byte Integer.
    package enum VariableByteIntegerPeek: Equatable {
        case value(Int, length: Int)
        case needMore
        case malformed
    }

    /// Reads a Variable Byte Integer at the reader index without moving it.
    package func peekMQTTVariableByteInteger(at offset: Int = 0) -> VariableByteIntegerPeek {
        var value = 0
        var multiplier = 1
        for index in 0..<4 {
            guard let byte = getInteger(at: readerIndex + offset + index, as: UInt8.self) else { return .needMore }
            value += Int(byte & 0x7F) * multiplier
            // [MQTT-1.5.5-1] encoded with the minimum number of bytes: a final zero byte is not minimal.
            if byte & 0x80 == 0 {
                if index > 0 && byte == 0 { return .malformed }
                return .value(value, length: index + 1)
            }
            multiplier *= 128
        }
        return .malformed
    }

    package mutating func writeMQTTVariableByteInteger(_ value: Int) {
        precondition(value >= 0 && value <= MQTTLimits.maxVariableByteInteger)
        var remaining = value
        repeat {
            var byte = UInt8(remaining % 128)
            remaining /= 128
            if remaining > 0 { byte |= 0x80 }
            writeInteger(byte)
        } while remaining > 0
    }

    /// Bytes `value` takes as a Variable Byte Integer.
    package static func mqttVariableByteIntegerLength(_ value: Int) -> Int {
        value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4
    }

    package mutating func readMQTTByte() throws(MQTTError) -> UInt8 {
        guard let value = readInteger(as: UInt8.self) else { throw .malformedPacket("truncated packet") }
        return value
    }

    package mutating func readMQTTUInt16() throws(MQTTError) -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else { throw .malformedPacket("truncated packet") }
        return value
    }

    package mutating func readMQTTUInt32() throws(MQTTError) -> UInt32 {
        guard let value = readInteger(as: UInt32.self) else { throw .malformedPacket("truncated packet") }
        return value
    }

    /// Binary Data (§1.5.6): a two-byte length, then the bytes (a slice, not a copy).
    package mutating func readMQTTBinary() throws(MQTTError) -> ByteBuffer {
        let length = Int(try readMQTTUInt16())
        // The length is checked against what the (already size-checked) packet holds before slicing.
        guard length <= readableBytes, let bytes = readSlice(length: length) else {
            throw .malformedPacket("binary data longer than the packet")
        }
        return bytes
    }

    /// UTF-8 Encoded String (§1.5.4), made from the bytes where they lie (no slice).
    package mutating func readMQTTString() throws(MQTTError) -> String {
        let length = Int(try readMQTTUInt16())
        guard length <= readableBytes else { throw .malformedPacket("binary data longer than the packet") }
        let string = withUnsafeReadableBytes { raw in
            Self.validatedString(UnsafeRawBufferPointer(rebasing: raw[..<length]))
        }
        guard let string else { throw .malformedPacket("string is not valid UTF-8 or contains U+0000") }
        moveReaderIndex(forwardBy: length)
        return string
    }

    /// [MQTT-1.5.4-1] well-formed UTF-8; [MQTT-1.5.4-2] no U+0000.
    package static func validatedString(_ bytes: ByteBuffer) throws(MQTTError) -> String {
        let string = bytes.withUnsafeReadableBytes { raw in validatedString(raw) }
        guard let string else { throw .malformedPacket("string is not valid UTF-8 or contains U+0000") }
        return string
    }

    /// The string `raw` holds, or nil when it is not well-formed UTF-8 or contains U+0000.
    private static func validatedString(_ raw: UnsafeRawBufferPointer) -> String? {
        // UTF8Validation has its own ASCII fast path: topics and ids are mostly ASCII.
        if raw.contains(0) { return nil }
        return UTF8Validation.string(raw)
    }

    package mutating func writeMQTTString(_ string: String) {
        let utf8 = string.utf8
        precondition(utf8.count <= Int(UInt16.max), "MQTT strings are at most 65,535 bytes")
        writeInteger(UInt16(utf8.count))
        writeString(string)
    }

    package mutating func writeMQTTBinary(_ bytes: ByteBuffer) {
        precondition(bytes.readableBytes <= Int(UInt16.max), "MQTT binary data is at most 65,535 bytes")
        writeInteger(UInt16(bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }
}
