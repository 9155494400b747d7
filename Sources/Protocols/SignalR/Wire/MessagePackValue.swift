package import NIOCore

/// One MessagePack value (msgpack spec.md §Type system). Str, bin and ext data are slices of the bytes
/// they were decoded from, not copies.
///
/// Integers have one canonical form so that decoding what was encoded gives the same value: `.int`
/// for every value that fits an `Int64`, `.uint` only for values above `Int64.max`. The decoder keeps
/// to it whatever format the bytes used; the encoder accepts either and writes the smallest format.
package enum MessagePackValue: Sendable {
    /// `nil` (0xc0).
    case `nil`
    /// `false` (0xc2) or `true` (0xc3).
    case bool(Bool)
    /// An integer that fits in 64 signed bits: fixint, uint 8–64, int 8–64.
    case int(Int64)
    /// An integer above `Int64.max` (uint 64).
    case uint(UInt64)
    /// A float 32 (0xca), kept single precision so it re-encodes as it came.
    case float(Float)
    /// A float 64 (0xcb).
    case double(Double)
    /// A UTF-8 string: fixstr, str 8–32.
    case string(String)
    /// A byte array: bin 8–32.
    case binary(ByteBuffer)
    /// fixarray, array 16–32.
    case array([MessagePackValue])
    /// fixmap, map 16–32: key/value pairs in wire order (keys of any type, duplicates kept).
    case map([(key: MessagePackValue, value: MessagePackValue)])
    /// An extension: fixext 1–16, ext 8–32. Type −1 is the timestamp (`MessagePackTimestamp`).
    case ext(type: Int8, data: ByteBuffer)

    /// An integer in its canonical case.
    package static func integer(_ value: UInt64) -> MessagePackValue {
        value <= UInt64(Int64.max) ? .int(Int64(value)) : .uint(value)
    }
}

extension MessagePackValue: Equatable {
    /// Values are equal when they would encode to the same bytes: floats compare by bit pattern (so a
    /// NaN equals itself and −0.0 differs from 0.0), and `.uint(n)` equals `.int(n)`.
    package static func == (lhs: MessagePackValue, rhs: MessagePackValue) -> Bool {
        switch (lhs, rhs) {
        case (.nil, .nil): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.uint(let a), .uint(let b)): a == b
        case (.int(let a), .uint(let b)), (.uint(let b), .int(let a)): a >= 0 && UInt64(a) == b
        case (.float(let a), .float(let b)): a.bitPattern == b.bitPattern
        case (.double(let a), .double(let b)): a.bitPattern == b.bitPattern
        case (.string(let a), .string(let b)): a == b
        case (.binary(let a), .binary(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.map(let a), .map(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.ext(let typeA, let dataA), .ext(let typeB, let dataB)): typeA == typeB && dataA == dataB
        default: false
        }
    }
}

extension MessagePackValue {
    /// The string, when the value is one.
    package var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The integer, when the value is one that fits an `Int64`.
    package var int64Value: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    /// The elements, when the value is an array.
    package var arrayValue: [MessagePackValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// Whether the value is `nil`.
    package var isNil: Bool {
        if case .nil = self { return true }
        return false
    }
}
