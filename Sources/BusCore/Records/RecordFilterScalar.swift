import NIOCore

/// A value as a comparison sees it: SQLite's storage classes, which is what PocketBase compares.
///
/// Booleans are the numbers 1 and 0 (SQLite has no boolean), objects and nested arrays are their JSON text.
package enum RecordFilterScalar: Sendable, Hashable {
    case null
    case number(Double)
    case text(String)

    /// The scalar a JSON value stores as; arrays are handled by the caller, element by element.
    package init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .number(flag ? 1 : 0)
        case .number(let text): self = .number(Double(text) ?? 0)
        case .string(let text): self = .text(text)
        case .array, .object:
            var buffer = ByteBuffer()
            buffer.writeJSONValue(value)
            self = .text(String(buffer: buffer))
        }
    }

    /// The text SQLite makes of the value for `LIKE`; `nil` for null.
    var likeText: String? {
        switch self {
        case .null: nil
        case .text(let text): text
        case .number(let number): Self.format(number)
        }
    }

    /// Integral numbers without a fraction (`3`, not `3.0`), as Go's `cast.ToString` writes PocketBase's
    /// float64 parameters.
    static func format(_ number: Double) -> String {
        if number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
        return String(number)
    }

    /// `=` as PocketBase renders it: `COALESCE(a, '') = COALESCE(b, '')`, so null equals `""`.
    package func equals(_ other: RecordFilterScalar) -> Bool {
        switch (self.coalesced, other.coalesced) {
        case (.number(let a), .number(let b)): return a == b
        case (.text(let a), .text(let b)): return a == b
        case (.number(let a), .text(let b)), (.text(let b), .number(let a)):
            // A number column compared with a text applies numeric affinity to the text.
            return Double(b).map { $0 == a } ?? false
        case (.null, _), (_, .null): return false  // not reached: coalesced
        }
    }

    private var coalesced: RecordFilterScalar {
        if case .null = self { return .text("") }
        return self
    }

    /// SQLite's ordering for `<`, `<=`, `>`, `>=`: `nil` (SQL NULL, so the comparison fails) when either
    /// side is null; numbers before texts unless the text reads as a number; texts by their bytes.
    package func compare(_ other: RecordFilterScalar) -> Int? {
        switch (self, other) {
        case (.null, _), (_, .null): return nil
        case (.number(let a), .number(let b)): return a < b ? -1 : (a == b ? 0 : 1)
        case (.text(let a), .text(let b)): return Self.compareBytes(a, b)
        case (.number(let a), .text(let b)):
            guard let number = Double(b) else { return -1 }
            return a < number ? -1 : (a == number ? 0 : 1)
        case (.text, .number): return other.compare(self).map { -$0 }
        }
    }

    /// The order of `ORDER BY`: like `compare`, with null before everything (SQLite sorts NULL first).
    package func sortOrder(_ other: RecordFilterScalar) -> Int {
        switch (self, other) {
        case (.null, .null): 0
        case (.null, _): -1
        case (_, .null): 1
        default: compare(other) ?? 0
        }
    }

    /// SQLite's BINARY collation: UTF-8 bytes, which is code point order.
    static func compareBytes(_ a: String, _ b: String) -> Int {
        var left = a.utf8.makeIterator()
        var right = b.utf8.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case (let x?, let y?) where x != y: return x < y ? -1 : 1
            default: continue
            }
        }
    }
}
