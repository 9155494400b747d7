/// One side of a comparison.
package enum RecordFilterOperand: Sendable, Hashable {
    /// A quoted text: `'abc'`, `"a\"b"`.
    case text(String)
    /// A number as written: `12`, `-3.5`.
    case number(Double)
    /// `true` or `false` (SQLite's 1 and 0).
    case bool(Bool)
    /// `null`.
    case null
    /// A record field or a path into it: `title`, `meta.owner.id`, `tags:length`.
    case field(path: [String], modifier: RecordFilterModifier?)
    /// A value of the request: `@request.auth.id`, `@request.body.title:isset`, `@request.method`.
    case request(RecordRequestSource, path: [String], modifier: RecordFilterModifier?)
    /// A date macro: `@now`, `@todayStart`, `@year`, ….
    case macro(RecordFilterMacro)

    /// The record field this operand reads, as a dotted path, if any.
    var referencedField: String? {
        switch self {
        case .field(let path, _): path.joined(separator: ".")
        // `@request.body.x:changed` compares the submitted `x` with the record's `x`.
        case .request(.body, let path, .changed): path.joined(separator: ".")
        default: nil
        }
    }
}

/// Which part of the request a `@request.*` operand reads.
package enum RecordRequestSource: String, Sendable, Hashable {
    case auth, body, query, headers, method, context
}

/// A `:modifier` suffix on the last path segment, as PocketBase documents them.
package enum RecordFilterModifier: String, Sendable, Hashable {
    /// `@request.*:isset` — whether the request carries the value at all.
    case isset
    /// `@request.body.x:changed` — whether the request submits `x` with a value other than the record's.
    case changed
    /// `field:length` — the number of elements of an array field.
    case length
    /// `field:each` — the condition must hold for every element (what an operator without `?` already
    /// does for arrays here).
    case each
    /// `field:lower` — the value lowercased, ASCII only like SQLite's `LOWER()`.
    case lower
}
