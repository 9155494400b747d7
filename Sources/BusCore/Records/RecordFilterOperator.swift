/// A comparison operator: `=`, `!=`, `~`, `!~`, `<`, `<=`, `>`, `>=`, each also in its any-of form
/// (`?=`, `?!=`, …) which holds when at least one element of an array operand matches.
package struct RecordFilterOperator: Sendable, Hashable, CustomStringConvertible {
    /// What is compared.
    package enum Comparison: String, Sendable, Hashable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case like = "~"
        case notLike = "!~"
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
    }

    package var comparison: Comparison
    /// The `?` prefix: some element matches, rather than every element.
    package var anyOf: Bool

    package init(_ comparison: Comparison, anyOf: Bool = false) {
        self.comparison = comparison
        self.anyOf = anyOf
    }

    /// The operator a sign spells, or `nil` for a sign fexpr does not know (`==`, `=>`, `?`, …).
    package init?(sign: String) {
        let anyOf = sign.hasPrefix("?")
        guard let comparison = Comparison(rawValue: anyOf ? String(sign.dropFirst()) : sign) else { return nil }
        self.init(comparison, anyOf: anyOf)
    }

    package var description: String { (anyOf ? "?" : "") + comparison.rawValue }
}
