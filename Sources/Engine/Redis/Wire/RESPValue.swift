public import NIOCore

/// One RESP3 value, or a RESP2 reply (RESP2's types are a subset; its null bulk string and null array keep
/// their own cases so a RESP2 reply re-encodes to the same bytes). Redis protocol spec:
/// https://github.com/redis/redis-specifications/blob/master/protocol/RESP3.md
public enum RESPValue: Sendable {
    /// `+OK\r\n`: a short line without CR or LF. Redis's status lines are ASCII; invalid UTF-8 is repaired
    /// (U+FFFD), here and in `simpleError`.
    case simpleString(String)
    /// `-ERR message\r\n`: an error reply (a line).
    case simpleError(String)
    /// `:42\r\n`: a signed 64-bit integer.
    case integer(Int64)
    /// `$3\r\nfoo\r\n`, or RESP2's null bulk string `$-1\r\n` (nil).
    case bulkString(ByteBuffer?)
    /// `*2\r\n…`, or RESP2's null array `*-1\r\n` (nil).
    case array([RESPValue]?)
    /// `_\r\n`: RESP3's one null.
    case null
    /// `,1.5\r\n`, also `inf`, `-inf` and `nan`.
    case double(Double)
    /// `#t\r\n` / `#f\r\n`.
    case boolean(Bool)
    /// `(3492890328409238509324850943850943825024385\r\n`: the digits as sent (optional leading `-`).
    case bigNumber(String)
    /// `!21\r\nSYNTAX invalid syntax\r\n`: an error reply that may hold any bytes.
    case bulkError(ByteBuffer)
    /// `=15\r\ntxt:Some string\r\n`: a string with a three-character format (`txt`, `mkd`).
    case verbatimString(format: String, ByteBuffer)
    /// `%2\r\n…`: key/value pairs, in the order sent.
    case map([(key: RESPValue, value: RESPValue)])
    /// `~2\r\n…`: an unordered collection, kept in the order sent.
    case set([RESPValue])
    /// `|1\r\n…` followed by the value it describes: RESP3 sends attributes before a reply, so the decoder
    /// returns them with that reply as one value.
    indirect case attribute([(key: RESPValue, value: RESPValue)], RESPValue)
    /// `>3\r\n…`: out-of-band data (pub/sub messages, invalidations), not a reply to a command.
    case push([RESPValue])
}

extension RESPValue {
    /// The value as text, for string-like values (simple, bulk and verbatim strings).
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes?): String(buffer: bytes)
        case .verbatimString(_, let bytes): String(buffer: bytes)
        default: nil
        }
    }

    /// The error text of an error reply (simple or bulk), nil for any other value.
    public var errorMessage: String? {
        switch self {
        case .simpleError(let text): text
        case .bulkError(let bytes): String(buffer: bytes)
        default: nil
        }
    }

    /// The elements of an array, set or push.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let values?), .set(let values), .push(let values): values
        default: nil
        }
    }
}

extension RESPValue: Equatable {
    /// Structural equality; two NaN doubles are equal, so every decoded value equals its re-decoding.
    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch (lhs, rhs) {
        case (.simpleString(let a), .simpleString(let b)): a == b
        case (.simpleError(let a), .simpleError(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.bulkString(let a), .bulkString(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.null, .null): true
        case (.double(let a), .double(let b)): a == b || (a.isNaN && b.isNaN)
        case (.boolean(let a), .boolean(let b)): a == b
        case (.bigNumber(let a), .bigNumber(let b)): a == b
        case (.bulkError(let a), .bulkError(let b)): a == b
        case (.verbatimString(let f, let a), .verbatimString(let g, let b)): f == g && a == b
        case (.map(let a), .map(let b)): pairsEqual(a, b)
        case (.set(let a), .set(let b)): a == b
        case (.attribute(let a, let x), .attribute(let b, let y)): pairsEqual(a, b) && x == y
        case (.push(let a), .push(let b)): a == b
        default: false
        }
    }

    private static func pairsEqual(
        _ a: [(key: RESPValue, value: RESPValue)], _ b: [(key: RESPValue, value: RESPValue)]
    ) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}
