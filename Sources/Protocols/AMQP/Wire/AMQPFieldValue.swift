package import NIOCore

/// One value of a field table or array, with RabbitMQ's type letters (the 0-9-1 errata, which every
/// real client follows: `s` is a signed 16-bit integer and `l` a signed 64-bit one, where the 0-9-1 spec
/// text says otherwise; there is no `U`, `L` or short string).
package enum AMQPFieldValue: Sendable, Hashable {
    /// `t`: one octet, non-zero is true.
    case boolean(Bool)
    /// `b`: signed 8-bit.
    case int8(Int8)
    /// `B`: unsigned 8-bit.
    case uint8(UInt8)
    /// `s`: signed 16-bit.
    case int16(Int16)
    /// `u`: unsigned 16-bit.
    case uint16(UInt16)
    /// `I`: signed 32-bit.
    case int32(Int32)
    /// `i`: unsigned 32-bit.
    case uint32(UInt32)
    /// `l`: signed 64-bit.
    case int64(Int64)
    /// `f`: IEEE 754 single.
    case float(Float)
    /// `d`: IEEE 754 double.
    case double(Double)
    /// `D`: a scale octet and a 32-bit value: value × 10^-scale.
    case decimal(scale: UInt8, value: UInt32)
    /// `S`: long string, bytes as received (a slice; RabbitMQ treats them as binary).
    case longString(ByteBuffer)
    /// `x`: byte array (a slice).
    case bytes(ByteBuffer)
    /// `A`: array of values.
    case array([AMQPFieldValue])
    /// `T`: seconds since the epoch, 64-bit unsigned.
    case timestamp(UInt64)
    /// `F`: nested table.
    case table(AMQPFieldTable)
    /// `V`: no value.
    case void

    /// A long string holding `text` as UTF-8.
    package static func string(_ text: String) -> AMQPFieldValue { .longString(ByteBuffer(string: text)) }

    /// The text of a long string, when it is UTF-8.
    package var stringValue: String? {
        guard case .longString(let bytes) = self else { return nil }
        return bytes.withUnsafeReadableBytes { ByteBuffer.validatedUTF8($0) }
    }

    /// The type letter on the wire.
    package var typeLetter: UInt8 {
        switch self {
        case .boolean: UInt8(ascii: "t")
        case .int8: UInt8(ascii: "b")
        case .uint8: UInt8(ascii: "B")
        case .int16: UInt8(ascii: "s")
        case .uint16: UInt8(ascii: "u")
        case .int32: UInt8(ascii: "I")
        case .uint32: UInt8(ascii: "i")
        case .int64: UInt8(ascii: "l")
        case .float: UInt8(ascii: "f")
        case .double: UInt8(ascii: "d")
        case .decimal: UInt8(ascii: "D")
        case .longString: UInt8(ascii: "S")
        case .bytes: UInt8(ascii: "x")
        case .array: UInt8(ascii: "A")
        case .timestamp: UInt8(ascii: "T")
        case .table: UInt8(ascii: "F")
        case .void: UInt8(ascii: "V")
        }
    }
}
