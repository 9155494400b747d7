package import BusCore

/// A JSON document as a flat list of tokens over its bytes, for validating a payload without building
/// a `JSONValue` tree: no strings, arrays or numbers are made, and the tokens live in memory the caller
/// lends (`withTape`, on the stack for a small payload). A string is its byte range (with flags saying
/// whether it has escapes or non-ASCII bytes); a number its text; an array or object its element count
/// and where its last descendant ends, so a validator can skip it.
///
/// Accepts exactly what `JSONParser.parse` accepts (RFC 8259, UTF-8, nesting below
/// `JSONParser.maxDepth`); on anything else `withTape` passes nil and the caller asks `JSONParser` why.
package struct JSONTape {
    /// What a token is.
    package enum Kind: UInt8 {
        case null, falseLiteral, trueLiteral, number, string, array, object
    }

    /// One value (or object member name).
    package struct Token {
        package var kind: Kind
        /// A string with `\` escapes: its content must be decoded before it is compared or measured.
        package var escaped: Bool
        /// A string with bytes ≥ 0x80 (already checked to be well-formed UTF-8).
        package var nonASCII: Bool
        /// The value's bytes: a string's include its quotes, a container's its brackets.
        package var start: Int32
        package var end: Int32
        /// The index of the token after this value and everything inside it.
        package var next: Int32
        /// Elements of an array, members of an object.
        package var count: Int32
    }

    package let bytes: UnsafeRawBufferPointer
    package let tokens: UnsafeBufferPointer<Token>

    /// Parses `bytes` into a tape that lives for the duration of `body`; `body` gets nil when the bytes
    /// are not exactly one JSON value (or are too large for 32-bit offsets).
    package static func withTape<Result>(
        of bytes: UnsafeRawBufferPointer, _ body: (JSONTape?) throws -> Result
    ) rethrows -> Result {
        guard bytes.count > 0, bytes.count < Int(Int32.max) else { return try body(nil) }
        // Every token but the first follows a separator (`[`, `{`, `,`, `:`) and has a byte of its own,
        // so there are at most about half as many tokens as bytes; the parser still checks (and a payload
        // that somehow needs more is handed to the caller as unread, nil).
        return try withUnsafeTemporaryAllocation(of: Token.self, capacity: bytes.count / 2 + 2) { buffer in
            var parser = JSONTapeParser(bytes: bytes, tokens: buffer)
            guard parser.parseDocument() else { return try body(nil) }
            return try body(JSONTape(bytes: bytes, tokens: UnsafeBufferPointer(rebasing: buffer[..<parser.count])))
        }
    }

    /// A string token's content bytes (between the quotes), still escaped if `escaped`.
    package func body(_ token: Token) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(token.start) + 1..<Int(token.end) - 1])
    }

    /// A value's text.
    package func text(_ token: Token) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(token.start)..<Int(token.end)])
    }

    /// A string token's content as a `String` (escapes decoded). Allocates for long strings; the
    /// validator uses it only off the fast path (escapes, non-ASCII names, regular expressions).
    package func string(_ token: Token) -> String {
        let raw = body(token)
        return token.escaped ? Self.decode(raw) : String(decoding: raw, as: UTF8.self)
    }

    /// A string token's decoded content bytes.
    package func stringBytes(_ token: Token) -> [UInt8] {
        token.escaped ? Array(Self.decode(body(token)).utf8) : Array(body(token))
    }

    /// The value a token spans, as `JSONParser` builds it (for the evaluator that needs a tree).
    package func value(_ index: Int) -> JSONValue {
        // The tape accepted these bytes, so the parser does too.
        (try? JSONParser.parse(text(tokens[index]))) ?? .null
    }

    /// Decodes an escaped string body the tape has already checked (`JSONParser`'s decoder: the tape
    /// accepts only what the parser accepts, so it cannot fail here).
    static func decode(_ raw: UnsafeRawBufferPointer) -> String {
        (try? JSONParser.unescape(raw)) ?? String(decoding: raw, as: UTF8.self)
    }
}

/// Fills a tape; every method returns false on input `JSONParser` would refuse.
struct JSONTapeParser {
    let bytes: UnsafeRawBufferPointer
    let tokens: UnsafeMutableBufferPointer<JSONTape.Token>
    var index = 0
    var count = 0

    mutating func parseDocument() -> Bool {
        skipWhitespace()
        guard parseValue(depth: 0) else { return false }
        skipWhitespace()
        return index == bytes.count
    }

    private mutating func append(_ kind: JSONTape.Kind, start: Int) -> Int {
        let slot = count
        tokens[slot] = JSONTape.Token(
            kind: kind, escaped: false, nonASCII: false, start: Int32(start), end: Int32(index),
            next: Int32(slot + 1), count: 0)
        count += 1
        return slot
    }

    private mutating func parseValue(depth: Int) -> Bool {
        guard depth < JSONParser.maxDepth, index < bytes.count, count < tokens.count else { return false }
        let start = index
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            let slot = append(.object, start: start)
            var members: Int32 = 0
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
            } else {
                while true {
                    skipWhitespace()
                    guard peek() == UInt8(ascii: "\""), count < tokens.count, parseString() else { return false }
                    skipWhitespace()
                    guard peek() == UInt8(ascii: ":") else { return false }
                    index += 1
                    skipWhitespace()
                    guard parseValue(depth: depth + 1) else { return false }
                    members += 1
                    skipWhitespace()
                    if peek() == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    guard peek() == UInt8(ascii: "}") else { return false }
                    index += 1
                    break
                }
            }
            tokens[slot].count = members
            tokens[slot].end = Int32(index)
            tokens[slot].next = Int32(count)
            return true
        case UInt8(ascii: "["):
            index += 1
            let slot = append(.array, start: start)
            var elements: Int32 = 0
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
            } else {
                while true {
                    skipWhitespace()
                    guard parseValue(depth: depth + 1) else { return false }
                    elements += 1
                    skipWhitespace()
                    if peek() == UInt8(ascii: ",") {
                        index += 1
                        continue
                    }
                    guard peek() == UInt8(ascii: "]") else { return false }
                    index += 1
                    break
                }
            }
            tokens[slot].count = elements
            tokens[slot].end = Int32(index)
            tokens[slot].next = Int32(count)
            return true
        case UInt8(ascii: "\""): return parseString()
        case UInt8(ascii: "t"): return literal(.trueLiteral, "true")
        case UInt8(ascii: "f"): return literal(.falseLiteral, "false")
        case UInt8(ascii: "n"): return literal(.null, "null")
        default:
            guard skipNumber() else { return false }
            _ = append(.number, start: start)
            return true
        }
    }

    private mutating func literal(_ kind: JSONTape.Kind, _ text: StaticString) -> Bool {
        let length = text.utf8CodeUnitCount
        guard index + length <= bytes.count else { return false }
        let same = text.withUTF8Buffer { expected in (0..<length).allSatisfy { bytes[index + $0] == expected[$0] } }
        guard same else { return false }
        index += length
        _ = append(kind, start: index - length)
        return true
    }

    /// A string token; `index` is at its opening quote.
    private mutating func parseString() -> Bool {
        let start = index
        index += 1
        var escaped = false
        var nonASCII = false
        let base = bytes.baseAddress!
        while true {
            // Eight plain ASCII bytes at a time: no quote, backslash, control character or high bit.
            while index + 8 <= bytes.count {
                let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                let ones: UInt64 = 0x0101_0101_0101_0101
                let highs: UInt64 = 0x8080_8080_8080_8080
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                let special =
                    ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
                    | word
                guard special & highs == 0 else { break }
                index += 8
            }
            guard index < bytes.count else { return false }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                break
            }
            if byte < 0x20 { return false }
            if byte >= 0x80 { nonASCII = true }
            index += 1
            if byte == UInt8(ascii: "\\") {
                escaped = true
                guard index < bytes.count else { return false }
                switch bytes[index] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    guard index + 5 <= bytes.count,
                        (1...4).allSatisfy({ Self.hexValue(bytes[index + $0]) != nil })
                    else { return false }
                    index += 5
                default: return false
                }
            }
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[start + 1..<index - 1])
        if nonASCII, !UTF8Validation.isValid(body) { return false }
        if escaped, !Self.surrogatesArePaired(body) { return false }
        let slot = append(.string, start: start)
        tokens[slot].escaped = escaped
        tokens[slot].nonASCII = nonASCII
        return true
    }

    /// Whether every `\u` high surrogate is followed by an escaped low one and no low one stands alone
    /// (as `JSONParser` decodes them).
    static func surrogatesArePaired(_ raw: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i < raw.count {
            guard raw[i] == UInt8(ascii: "\\") else {
                i += 1
                continue
            }
            let kind = raw[i + 1]
            i += 2
            guard kind == UInt8(ascii: "u") else { continue }
            let scalar = hex4(raw, i)
            i += 4
            if (0xD800..<0xDC00).contains(scalar) {
                guard i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u"),
                    (0xDC00..<0xE000).contains(hex4(raw, i + 2))
                else { return false }
                i += 6
            } else if (0xDC00..<0xE000).contains(scalar) {
                return false
            }
        }
        return true
    }

    static func hex4(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        var value: UInt32 = 0
        for k in 0..<4 { value = value << 4 | UInt32(hexValue(raw[at + k]) ?? 0) }
        return value
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// RFC 8259 §6 number grammar.
    private mutating func skipNumber() -> Bool {
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { return false }
        index += 1
        if first != UInt8(ascii: "0") {
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let byte = peek(), isDigit(byte) else { return false }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        if let byte = peek(), byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            index += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek(), isDigit(byte) else { return false }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        return true
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }
}
