import BusCore
import NIOCore

/// A JSON message's top-level object: the byte range of each member, found by one validating pass
/// (`JSONParser.memberRanges`), each value read only when asked for. Values that are forwarded (an
/// argument, an item, a result) are handed out as slices of the message, never re-encoded.
struct SignalRJSONObject {
    /// The message.
    let bytes: ByteBuffer
    /// Each member's value, relative to the message's reader index. A repeated member: the last one.
    let members: [String: Range<Int>]

    /// Validates `bytes` as one JSON object; the error's message is fit for a Close.
    init(_ bytes: ByteBuffer) throws(SignalRWireError) {
        self.bytes = bytes
        do throws(JSONError) {
            members = try bytes.withUnsafeReadableBytes { raw throws(JSONError) in try JSONParser.memberRanges(raw) }
        } catch {
            throw .invalidMessage("Error reading JSON: \(error.description).")
        }
    }

    /// The member's value as it is written, or nil when absent.
    func raw(_ key: String) -> ByteBuffer? {
        members[key].map { bytes.getSlice(at: bytes.readerIndex + $0.lowerBound, length: $0.count)! }
    }

    /// The member's value parsed, or nil when absent.
    func value(_ key: String) -> JSONValue? {
        guard let range = members[key] else { return nil }
        return try? bytes.withUnsafeReadableBytes { raw throws(JSONError) in
            try JSONParser.parse(UnsafeRawBufferPointer(rebasing: raw[range]))
        }
    }

    /// A string member; nil when absent or `null` (as ASP.NET Core reads an optional string).
    func string(_ key: String) throws(SignalRWireError) -> String? {
        switch value(key) {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw .invalidMessage("Expected '\(key)' to be of type String.")
        }
    }

    /// A string member that must be there and not be empty.
    func requiredString(_ key: String) throws(SignalRWireError) -> String {
        guard let text = try string(key), !text.isEmpty else {
            throw .invalidMessage("Missing required property '\(key)'.")
        }
        return text
    }

    /// An integer member (no fraction, no exponent), nil when absent.
    func integer(_ key: String) throws(SignalRWireError) -> Int64? {
        switch value(key) {
        case nil: return nil
        case .number(let text)?:
            guard let integer = Int64(text) else { throw .invalidMessage("Expected '\(key)' to be an integer.") }
            return integer
        default: throw .invalidMessage("Expected '\(key)' to be of type Number.")
        }
    }

    /// A boolean member, nil when absent.
    func bool(_ key: String) throws(SignalRWireError) -> Bool? {
        switch value(key) {
        case nil: return nil
        case .bool(let flag)?: return flag
        default: throw .invalidMessage("Expected '\(key)' to be of type Boolean.")
        }
    }

    /// An array of strings, nil when absent.
    func strings(_ key: String) throws(SignalRWireError) -> [String]? {
        guard let value = value(key) else { return nil }
        guard case .array(let elements) = value else { throw .invalidMessage("Expected '\(key)' to be of type Array.") }
        var strings: [String] = []
        for element in elements {
            guard case .string(let text) = element else {
                throw .invalidMessage("Expected '\(key)' to hold strings.")
            }
            strings.append(text)
        }
        return strings
    }

    /// An object of string values (the `headers` member), empty when absent.
    func headers(_ key: String) throws(SignalRWireError) -> [SignalRHeader] {
        guard let value = value(key) else { return [] }
        guard case .object(let fields) = value else { throw .invalidMessage("Expected '\(key)' to be of type Object.") }
        var headers: [SignalRHeader] = []
        for field in fields {
            guard case .string(let text) = field.value else {
                throw .invalidMessage("Expected header '\(field.key)' to be of type String.")
            }
            headers.append(SignalRHeader(name: field.key, value: text))
        }
        return headers
    }

    /// An array member's elements as written (slices of the message), nil when absent. The elements are
    /// found by tracking strings and nesting over bytes the parser has already validated.
    func elements(_ key: String) throws(SignalRWireError) -> [ByteBuffer]? {
        guard let range = members[key] else { return nil }
        let base = bytes.readerIndex
        let found: [Range<Int>]? = bytes.withUnsafeReadableBytes { raw in Self.elementRanges(raw, in: range) }
        guard let found else { throw .invalidMessage("Expected '\(key)' to be of type Array.") }
        return found.map { bytes.getSlice(at: base + $0.lowerBound, length: $0.count)! }
    }

    /// The ranges of the elements of the array that `range` holds, or nil when it holds something else.
    /// `raw[range]` must be valid JSON.
    private static func elementRanges(_ raw: UnsafeRawBufferPointer, in range: Range<Int>) -> [Range<Int>]? {
        guard raw[range.lowerBound] == UInt8(ascii: "[") else { return nil }
        // The value ends with its `]` (memberRanges ends a range right after the value).
        let end = range.upperBound - 1
        var ranges: [Range<Int>] = []
        var start = range.lowerBound + 1
        var depth = 0
        var inString = false
        var escaped = false
        var index = start
        while index < end {
            let byte = raw[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
                case UInt8(ascii: ",") where depth == 0:
                    ranges.append(trimmed(raw, start..<index))
                    start = index + 1
                default: break
                }
            }
            index += 1
        }
        let last = trimmed(raw, start..<end)
        // `[]` (or `[ ]`) has no element; otherwise the last one runs to the bracket.
        if !last.isEmpty || !ranges.isEmpty { ranges.append(last) }
        return ranges
    }

    private static func trimmed(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, isWhitespace(raw[lower]) { lower += 1 }
        while upper > lower, isWhitespace(raw[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
            || byte == UInt8(ascii: "\t")
    }
}
