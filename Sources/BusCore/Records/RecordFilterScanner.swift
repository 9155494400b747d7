/// One lexical unit of a filter and where it starts.
struct RecordFilterToken: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        /// A field, `@macro`, `@request.*`, `true`/`false`/`null`, with any `:modifier`.
        case identifier(String)
        /// A quoted text, quotes removed and `\<quote>` unescaped.
        case text(String)
        case number(Double)
        /// A run of `=!<>~?` characters; the parser checks that it is an operator.
        case sign(String)
        case and
        case or
        case open
        case close
        case end
    }

    var kind: Kind
    var offset: Int
}

/// Splits a filter into tokens the way fexpr's scanner does (`ganigeorgiev/fexpr/scanner.go`), over UTF-8
/// bytes so every error can name a byte offset.
struct RecordFilterScanner {
    private let bytes: [UInt8]
    private var position = 0

    init(_ text: String) {
        bytes = Array(text.utf8)
    }

    /// The next token, skipping whitespace (space, tab, newline — fexpr's set) and `//` comments.
    mutating func next() throws(RecordFilterError) -> RecordFilterToken {
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") {
                position += 1
            } else if byte == UInt8(ascii: "/") {
                guard position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "/") else {
                    throw RecordFilterError("a comment starts with //", at: position)
                }
                while position < bytes.count && bytes[position] != UInt8(ascii: "\n") { position += 1 }
            } else {
                break
            }
        }
        let start = position
        guard position < bytes.count else { return RecordFilterToken(kind: .end, offset: start) }
        let byte = bytes[position]
        switch byte {
        case UInt8(ascii: "("):
            position += 1
            return RecordFilterToken(kind: .open, offset: start)
        case UInt8(ascii: ")"):
            position += 1
            return RecordFilterToken(kind: .close, offset: start)
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return RecordFilterToken(kind: .text(try scanText()), offset: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return RecordFilterToken(kind: .number(try scanNumber()), offset: start)
        case UInt8(ascii: "&"), UInt8(ascii: "|"):
            let run = scanRun { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "|") }
            switch run {
            case "&&": return RecordFilterToken(kind: .and, offset: start)
            case "||": return RecordFilterToken(kind: .or, offset: start)
            default: throw RecordFilterError("unknown join \"\(run)\", expected && or ||", at: start)
            }
        default:
            if Self.isSign(byte) {
                return RecordFilterToken(kind: .sign(scanRun(Self.isSign)), offset: start)
            }
            if Self.isLetter(byte) || byte == UInt8(ascii: "@") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "#")
            {
                return RecordFilterToken(kind: .identifier(try scanIdentifier()), offset: start)
            }
            throw RecordFilterError("unexpected character", at: start)
        }
    }

    private mutating func scanRun(_ belongs: (UInt8) -> Bool) -> String {
        let start = position
        while position < bytes.count && belongs(bytes[position]) { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// fexpr: the text ends at the first matching quote not right after a `\`; only `\<quote>` is an
    /// escape, every other `\` stays (so `\%` reaches `LIKE` as an escaped `%`).
    private mutating func scanText() throws(RecordFilterError) -> String {
        let start = position
        let quote = bytes[position]
        position += 1
        var content: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            if byte == quote {
                if content.last == UInt8(ascii: "\\") {
                    content[content.count - 1] = quote
                    continue
                }
                return String(decoding: content, as: UTF8.self)
            }
            content.append(byte)
        }
        throw RecordFilterError("unterminated text", at: start)
    }

    /// fexpr's numbers: an optional leading `-`, digits and at most one `.`, which may not end it.
    private mutating func scanNumber() throws(RecordFilterError) -> Double {
        let start = position
        var hadDot = false
        while position < bytes.count {
            let byte = bytes[position]
            if Self.isDigit(byte) || (byte == UInt8(ascii: "-") && position == start) {
                position += 1
            } else if byte == UInt8(ascii: "."), !hadDot {
                hadDot = true
                position += 1
            } else {
                break
            }
        }
        let literal = String(decoding: bytes[start..<position], as: UTF8.self)
        guard literal != "-", literal.last != ".", let number = Double(literal) else {
            throw RecordFilterError("invalid number \"\(literal)\"", at: start)
        }
        return number
    }

    private mutating func scanIdentifier() throws(RecordFilterError) -> String {
        let start = position
        position += 1
        while position < bytes.count {
            let byte = bytes[position]
            guard
                Self.isLetter(byte) || Self.isDigit(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: ":")
            else { break }
            position += 1
        }
        let name = String(decoding: bytes[start..<position], as: UTF8.self)
        if position < bytes.count && bytes[position] == UInt8(ascii: "(") {
            // PocketBase has a few functions (`geoDistance(…)`); records here have no geo fields.
            throw RecordFilterError("functions such as \(name)() are not supported", at: start)
        }
        guard name.last != ".", name.last != ":", name != "@", name != "_", name != "#" else {
            throw RecordFilterError("invalid identifier \"\(name)\"", at: start)
        }
        return name
    }

    private static func isSign(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "=") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "!") || byte == UInt8(ascii: ">")
            || byte == UInt8(ascii: "<") || byte == UInt8(ascii: "~")
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
}
