/// A strict RFC 8259 parser over raw bytes. No Foundation, no intermediate copies; nesting is bounded by
/// `JSONParser.maxDepth` so hostile input cannot exhaust the stack.
package struct JSONParser {
    /// Deepest nesting accepted. Real messages stay far below; a recursive parser needs a bound.
    package static let maxDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Parses one JSON value that spans all of `bytes` (surrounding whitespace allowed).
    package static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> JSONValue {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("trailing characters") }
        return value
    }

    /// Parses a top-level object, recording where each member's value sits.
    package static func parseDocument(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> JSONDocument {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        guard parser.peek() == UInt8(ascii: "{") else { throw parser.error("expected an object") }
        parser.index += 1
        var members: [String: JSONDocument.Member] = [:]
        parser.skipWhitespace()
        if parser.peek() == UInt8(ascii: "}") {
            parser.index += 1
        } else {
            while true {
                parser.skipWhitespace()
                let key = try parser.parseString()
                parser.skipWhitespace()
                try parser.expect(UInt8(ascii: ":"))
                parser.skipWhitespace()
                let start = parser.index
                let value = try parser.parseValue(depth: 1)
                members[key] = JSONDocument.Member(value: value, range: start..<parser.index)
                parser.skipWhitespace()
                if parser.peek() == UInt8(ascii: ",") {
                    parser.index += 1
                    continue
                }
                try parser.expect(UInt8(ascii: "}"))
                break
            }
        }
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("trailing characters") }
        return JSONDocument(members: members)
    }

    /// The byte range of each member of a top-level object, its values skipped rather than built (parse
    /// one later with `parse` on its range). Throws as `parseDocument` does on anything that is not one
    /// valid object.
    package static func memberRanges(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> [String: Range<Int>] {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        guard parser.peek() == UInt8(ascii: "{") else { throw parser.error("expected an object") }
        parser.index += 1
        var members: [String: Range<Int>] = [:]
        parser.skipWhitespace()
        if parser.peek() == UInt8(ascii: "}") {
            parser.index += 1
        } else {
            while true {
                parser.skipWhitespace()
                let key = try parser.parseString()
                parser.skipWhitespace()
                try parser.expect(UInt8(ascii: ":"))
                parser.skipWhitespace()
                let start = parser.index
                try parser.skipValue(depth: 1)
                members[key] = start..<parser.index
                parser.skipWhitespace()
                if parser.peek() == UInt8(ascii: ",") {
                    parser.index += 1
                    continue
                }
                try parser.expect(UInt8(ascii: "}"))
                break
            }
        }
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("trailing characters") }
        return members
    }

    /// Whether `bytes` hold exactly one JSON value. Builds nothing.
    package static func isValidJSON(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        do {
            try parser.skipValue(depth: 0)
        } catch {
            return false
        }
        parser.skipWhitespace()
        return parser.index == bytes.count
    }

    /// The end of the one JSON value that starts at `start` (no whitespace before it), checked as `parse`
    /// checks it, `depth` deep in its document (so a value skipped inside a document meets the
    /// `maxDepth` it would have met when the whole document was parsed). Builds nothing.
    package static func endOfValue(_ bytes: UnsafeRawBufferPointer, at start: Int, depth: Int) throws(JSONError) -> Int
    {
        var parser = JSONParser(bytes)
        parser.index = start
        try parser.skipValue(depth: depth)
        return parser.index
    }

    // MARK: - Values

    private mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        guard depth < JSONParser.maxDepth else { throw error("nested too deeply") }
        guard let byte = peek() else { throw error("unexpected end") }
        switch byte {
        case UInt8(ascii: "{"):
            index += 1
            var fields: [JSONField] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return .object(fields)
            }
            while true {
                skipWhitespace()
                let key = try parseString()
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                fields.append(JSONField(key: key, value: try parseValue(depth: depth + 1)))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                return .object(fields)
            }
        case UInt8(ascii: "["):
            index += 1
            var values: [JSONValue] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return .array(values)
            }
            while true {
                skipWhitespace()
                values.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return .array(values)
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        default:
            let start = index
            try skipNumber()
            return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
        }
    }

    private mutating func skipValue(depth: Int) throws(JSONError) {
        guard depth < JSONParser.maxDepth else { throw error("nested too deeply") }
        guard let byte = peek() else { throw error("unexpected end") }
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            index += 1
            skipWhitespace()
            if peek() == close {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                if close == UInt8(ascii: "}") {
                    try skipString()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"))
                    skipWhitespace()
                }
                try skipValue(depth: depth + 1)
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(close)
                return
            }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        default: try skipNumber()
        }
    }

    // MARK: - Strings

    /// Validates a string and returns the range of its body (between the quotes) and whether it has escapes.
    private mutating func scanString() throws(JSONError) -> (Range<Int>, Bool) {
        try expect(UInt8(ascii: "\""))
        let start = index
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let range = start..<index
                index += 1
                return (range, escaped)
            }
            if byte < 0x20 { throw error("control character in string") }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 1
                guard let next = peek() else { break }
                switch next {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    index += 1
                    for _ in 0..<4 {
                        guard let hex = peek(), JSONParser.hexValue(hex) != nil else { throw error("bad \\u escape") }
                        index += 1
                    }
                default:
                    throw error("bad escape")
                }
                continue
            }
            index += 1
        }
        throw error("unterminated string")
    }

    private mutating func skipString() throws(JSONError) {
        let (range, escaped) = try scanString()
        if escaped {
            // Escapes need decoding to catch lone surrogates.
            _ = try decode(range)
        } else if !UTF8Validation.isValid(UnsafeRawBufferPointer(rebasing: bytes[range])) {
            throw error("string is not UTF-8")
        }
    }

    private mutating func parseString() throws(JSONError) -> String {
        let (range, escaped) = try scanString()
        if !escaped {
            guard let string = UTF8Validation.string(UnsafeRawBufferPointer(rebasing: bytes[range])) else {
                throw error("string is not UTF-8")
            }
            return string
        }
        return try decode(range)
    }

    /// Decodes a scanned string body that contains escapes.
    private func decode(_ range: Range<Int>) throws(JSONError) -> String {
        do {
            return try Self.unescape(UnsafeRawBufferPointer(rebasing: bytes[range]))
        } catch {
            throw self.error(error.message)
        }
    }

    /// Why a string body that scanned could not be decoded (a lone surrogate, a bad code point).
    package struct UnescapeError: Error {
        package let message: String
    }

    /// A string body (between its quotes) with its escapes decoded; its escapes must have scanned (each
    /// `\` followed by a valid escape: `JSONParser` and `JSONTape` check that first).
    package static func unescape(_ raw: UnsafeRawBufferPointer) throws(UnescapeError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let byte = raw[i]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                i += 1
                continue
            }
            let kind = raw[i + 1]
            i += 2
            switch kind {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = JSONParser.hex4(raw, i)
                i += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u") else {
                        throw UnescapeError(message: "lone surrogate")
                    }
                    let low = JSONParser.hex4(raw, i + 2)
                    guard (0xDC00..<0xE000).contains(low) else { throw UnescapeError(message: "lone surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw UnescapeError(message: "lone surrogate")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw UnescapeError(message: "bad code point") }
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            default: out.append(kind)  // \" \\ \/
            }
        }
        guard let string = out.withUnsafeBytes(UTF8Validation.string) else {
            throw UnescapeError(message: "string is not UTF-8")
        }
        return string
    }

    private static func hex4(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        var value: UInt32 = 0
        for k in 0..<4 { value = value << 4 | UInt32(hexValue(raw[at + k])!) }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: - Numbers and literals

    private mutating func skipNumber() throws(JSONError) {
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw error("unexpected character") }
        index += 1
        if first != UInt8(ascii: "0") {
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let byte = peek(), isDigit(byte) else { throw error("digit expected after '.'") }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        if let byte = peek(), byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            index += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek(), isDigit(byte) else { throw error("digit expected in exponent") }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end") }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw error("unexpected character") }
        index += count
    }

    private mutating func expect(_ byte: UInt8) throws(JSONError) {
        guard peek() == byte else {
            throw error(index < bytes.count ? "expected '\(Character(Unicode.Scalar(byte)))'" : "unexpected end")
        }
        index += 1
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = peek(),
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\t")
        {
            index += 1
        }
    }

    private func error(_ message: String) -> JSONError { JSONError(message: message, offset: index) }
}
