/// A `pattern` or `patternProperties` regular expression, compiled once when the schema is.
///
/// Matching is what the evaluator has always done: Swift `Regex` with Unicode scalar semantics, a match
/// anywhere counts. `Regex` costs ~0.5 µs per call even for `^[a-z]+-[0-9]+$` on `dev-123`
/// (PayloadSchemaBenchmark), a quarter of the publish path's budget, so the common shape of payload
/// patterns — an optionally anchored sequence of literals, `.`, `\d`/`\w`/`\s` and bracket classes, each
/// with a quantifier — is also compiled into `atoms` and matched over ASCII bytes by a small backtracking
/// matcher. It is used only where it cannot disagree with `Regex`: on ASCII text without line breaks (so
/// `.`, `$` and the Unicode meaning of `\d`/`\w`/`\s` never come into play); anything else goes to
/// `Regex`. SchemaKitTests checks the two agree.
///
/// A class, so a node holding one is copied with one retain.
final class SchemaPattern: @unchecked Sendable {
    // `Regex` is not `Sendable` in this toolchain; a compiled one is immutable and matched without
    // shared mutable state, so sharing it between event loops is safe.
    let source: String
    let regex: Regex<AnyRegexOutput>
    /// The pattern as byte atoms, when it has the simple shape.
    let atoms: [Atom]?
    let anchoredStart: Bool
    let anchoredEnd: Bool

    /// One element of a simple pattern: a set of ASCII bytes repeated `minimum...maximum` times.
    struct Atom {
        /// Bit `b` of word `b / 64` set when byte `b` belongs to the set.
        var set: (UInt64, UInt64)
        var minimum: Int
        var maximum: Int

        func contains(_ byte: UInt8) -> Bool {
            byte < 64 ? set.0 & (1 << UInt64(byte)) != 0 : byte < 128 && set.1 & (1 << UInt64(byte - 64)) != 0
        }
    }

    /// Nil when `Regex` refuses the pattern.
    init?(_ source: String) {
        guard let compiled = try? Regex(source) else { return nil }
        self.source = source
        regex = compiled.matchingSemantics(.unicodeScalar)
        // Lowered to its matching program now, before event loops share it.
        _ = try? regex.firstMatch(in: "")
        var parser = SimplePatternParser(Array(source.utf8))
        if let (atoms, start, end) = parser.parse() {
            self.atoms = atoms
            anchoredStart = start
            anchoredEnd = end
        } else {
            atoms = nil
            anchoredStart = false
            anchoredEnd = false
        }
    }

    /// ECMA-262 patterns are unanchored: a match anywhere counts.
    func matches(_ text: String) -> Bool {
        var text = text
        if atoms != nil, let verdict = text.withUTF8({ fastMatch(UnsafeRawBufferPointer($0)) }) { return verdict }
        return (try? regex.firstMatch(in: text)) != nil
    }

    /// Matches UTF-8 `bytes`; makes a `String` only when the simple matcher cannot answer.
    func matches(utf8 bytes: UnsafeRawBufferPointer) -> Bool {
        if let verdict = fastMatch(bytes) { return verdict }
        return (try? regex.firstMatch(in: String(decoding: bytes, as: UTF8.self))) != nil
    }

    /// The simple matcher's verdict, or nil when it does not apply.
    func fastMatch(_ bytes: UnsafeRawBufferPointer) -> Bool? {
        guard let atoms else { return nil }
        for byte in bytes where byte >= 0x80 || (byte >= 0x0A && byte <= 0x0D) { return nil }
        if anchoredStart { return Self.match(atoms, 0, bytes, 0, anchoredEnd) }
        for start in 0...bytes.count where Self.match(atoms, 0, bytes, start, anchoredEnd) { return true }
        return false
    }

    /// Whether `atoms[atom...]` match `bytes` from `position` (to the end when `toEnd`), backtracking
    /// from the longest run of each atom.
    private static func match(
        _ atoms: [Atom], _ atom: Int, _ bytes: UnsafeRawBufferPointer, _ position: Int, _ toEnd: Bool
    ) -> Bool {
        guard atom < atoms.count else { return !toEnd || position == bytes.count }
        let current = atoms[atom]
        var run = 0
        while run < current.maximum, position + run < bytes.count, current.contains(bytes[position + run]) {
            run += 1
        }
        guard run >= current.minimum else { return false }
        if atom == atoms.count - 1 { return !toEnd || position + run == bytes.count }
        while run >= current.minimum {
            if match(atoms, atom + 1, bytes, position + run, toEnd) { return true }
            run -= 1
        }
        return false
    }
}

/// Reads the simple shape `^? (atom quantifier?)* $?`; nil for anything else (groups, alternation,
/// backreferences, assertions, Unicode escapes, set operations, non-ASCII …).
struct SimplePatternParser {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Longest pattern given the simple matcher; longer ones go to `Regex`.
    static let maxLength = 256

    mutating func parse() -> ([SchemaPattern.Atom], Bool, Bool)? {
        guard bytes.count <= Self.maxLength, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        var end = bytes.count
        let anchoredStart = bytes.first == UInt8(ascii: "^")
        if anchoredStart { index = 1 }
        var anchoredEnd = false
        if end > index, bytes[end - 1] == UInt8(ascii: "$"), !Self.isEscaped(bytes, end - 1) {
            anchoredEnd = true
            end -= 1
        }
        var atoms: [SchemaPattern.Atom] = []
        while index < end {
            guard let set = parseSet(end: end) else { return nil }
            var atom = SchemaPattern.Atom(set: set, minimum: 1, maximum: 1)
            if index < end {
                switch bytes[index] {
                case UInt8(ascii: "*"): (atom.minimum, atom.maximum, index) = (0, .max, index + 1)
                case UInt8(ascii: "+"): (atom.minimum, atom.maximum, index) = (1, .max, index + 1)
                case UInt8(ascii: "?"): (atom.minimum, atom.maximum, index) = (0, 1, index + 1)
                case UInt8(ascii: "{"):
                    guard let (minimum, maximum) = parseBraces(end: end) else { return nil }
                    (atom.minimum, atom.maximum) = (minimum, maximum)
                default: break
                }
                // A lazy or possessive quantifier: whether some match exists does not change for a lazy
                // one; possessive ones backtrack differently, so they are left to `Regex`.
                if index < end, bytes[index] == UInt8(ascii: "?"), atom.minimum != 1 || atom.maximum != 1 {
                    index += 1
                }
                if index < end,
                    [UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"), UInt8(ascii: "{")]
                        .contains(bytes[index])
                {
                    return nil
                }
            }
            atoms.append(atom)
        }
        return (atoms, anchoredStart, anchoredEnd)
    }

    /// Whether the byte at `position` is preceded by an odd number of backslashes.
    static func isEscaped(_ bytes: [UInt8], _ position: Int) -> Bool {
        var count = 0
        var index = position - 1
        while index >= 0, bytes[index] == UInt8(ascii: "\\") {
            count += 1
            index -= 1
        }
        return count % 2 == 1
    }

    /// `{n}`, `{n,}` or `{n,m}`.
    private mutating func parseBraces(end: Int) -> (Int, Int)? {
        index += 1
        guard let minimum = number(end: end) else { return nil }
        var maximum = minimum
        if index < end, bytes[index] == UInt8(ascii: ",") {
            index += 1
            maximum = number(end: end) ?? .max
        }
        guard index < end, bytes[index] == UInt8(ascii: "}"), minimum <= maximum else { return nil }
        index += 1
        return (minimum, maximum)
    }

    private mutating func number(end: Int) -> Int? {
        var value = 0
        let start = index
        while index < end, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9"), value < 10_000 {
            value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        return index > start && value < 10_000 ? value : nil
    }

    private typealias ByteSet = (UInt64, UInt64)

    private static func adding(_ set: ByteSet, _ low: UInt8, _ high: UInt8) -> ByteSet {
        var set = set
        for byte in low...high {
            if byte < 64 { set.0 |= 1 << UInt64(byte) } else if byte < 128 { set.1 |= 1 << UInt64(byte - 64) }
        }
        return set
    }

    private static func inverted(_ set: ByteSet) -> ByteSet { (~set.0, ~set.1) }

    private static let digits = adding((0, 0), UInt8(ascii: "0"), UInt8(ascii: "9"))
    private static let word = adding(
        adding(adding(adding((0, 0), 0x30, 0x39), 0x41, 0x5A), 0x61, 0x7A), UInt8(ascii: "_"), UInt8(ascii: "_"))
    // Only the space and the tab: the other ASCII white space (0x0A–0x0D) sends text to `Regex`.
    private static let space = adding(adding((0, 0), 0x20, 0x20), 0x09, 0x09)
    private static let any = adding((0, 0), 0, 127)

    /// One atom's set: a literal, `.`, an escape or a bracket class.
    private mutating func parseSet(end: Int) -> ByteSet? {
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "."): return Self.any
        case UInt8(ascii: "\\"):
            guard index < end else { return nil }
            return escape(inClass: false)
        case UInt8(ascii: "["): return bracket(end: end)
        case UInt8(ascii: "^"), UInt8(ascii: "$"), UInt8(ascii: "|"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "*"), UInt8(ascii: "+"),
            UInt8(ascii: "?"):
            return nil
        default: return Self.adding((0, 0), byte, byte)
        }
    }

    /// The escape after a backslash: `\d \w \s` and their negations, or escaped punctuation.
    private mutating func escape(inClass: Bool) -> ByteSet? {
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "d"): return Self.digits
        case UInt8(ascii: "D"): return Self.inverted(Self.digits)
        case UInt8(ascii: "w"): return Self.word
        case UInt8(ascii: "W"): return Self.inverted(Self.word)
        case UInt8(ascii: "s"): return Self.space
        case UInt8(ascii: "S"): return Self.inverted(Self.space)
        default:
            // Letters and digits after a backslash mean something (\b, \p, \u, \1 …): not simple.
            let isAlphanumeric =
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            return isAlphanumeric || byte == UInt8(ascii: " ") ? nil : Self.adding((0, 0), byte, byte)
        }
    }

    /// `[…]` or `[^…]` of literals, ranges and `\d`-style escapes; no nested classes or set operations.
    private mutating func bracket(end: Int) -> ByteSet? {
        var set: ByteSet = (0, 0)
        var negated = false
        if index < end, bytes[index] == UInt8(ascii: "^") {
            negated = true
            index += 1
        }
        // `[:digit:]`, `[=a=]`, `[.a.]`: Swift reads a POSIX class (or collation syntax) here, where
        // ECMA-262 reads a set of characters; `Regex` decides.
        if index < end, ":=.".utf8.contains(bytes[index]) { return nil }
        var first = true
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "]"), !first {
                index += 1
                return negated ? Self.inverted(set) : set
            }
            first = false
            // `[`, `&&`, `--`, `~~` and `]` first are Swift (ICU) set syntax ECMA-262 reads otherwise.
            if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]") { return nil }
            if index + 1 < end, byte == bytes[index + 1],
                byte == UInt8(ascii: "&") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "~")
            {
                return nil
            }
            let low: UInt8
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard index < end else { return nil }
                let escaped = bytes[index]
                guard let class_ = escape(inClass: true) else { return nil }
                if "dDwWsS".utf8.contains(escaped) {
                    set = (set.0 | class_.0, set.1 | class_.1)
                    continue
                }
                low = escaped
            } else {
                index += 1
                low = byte
            }
            // A range `a-z`, unless the `-` is last.
            if index + 1 < end, bytes[index] == UInt8(ascii: "-"), bytes[index + 1] != UInt8(ascii: "]") {
                var high = bytes[index + 1]
                index += 2
                if high == UInt8(ascii: "\\") {
                    guard index < end else { return nil }
                    high = bytes[index]
                    let isAlphanumeric =
                        (high >= 0x30 && high <= 0x39) || (high >= 0x41 && high <= 0x5A)
                        || (high >= 0x61 && high <= 0x7A)
                    if isAlphanumeric { return nil }
                    index += 1
                } else if high == UInt8(ascii: "[") {
                    return nil
                }
                guard low <= high else { return nil }
                set = Self.adding(set, low, high)
            } else {
                set = Self.adding(set, low, low)
            }
        }
        return nil
    }
}
