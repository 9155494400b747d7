/// A subject's compatibility level, as Confluent's registry names it (`/config`, default BACKWARD).
package enum CompatibilityLevel: String, Sendable, Hashable, CaseIterable {
    /// The new schema reads data written with the latest one.
    case backward = "BACKWARD"
    /// The new schema reads data written with every earlier one.
    case backwardTransitive = "BACKWARD_TRANSITIVE"
    /// The latest schema reads data written with the new one.
    case forward = "FORWARD"
    /// Every earlier schema reads data written with the new one.
    case forwardTransitive = "FORWARD_TRANSITIVE"
    /// Backward and forward against the latest.
    case full = "FULL"
    /// Backward and forward against every earlier schema.
    case fullTransitive = "FULL_TRANSITIVE"
    /// No check.
    case none = "NONE"

    /// The registry's default.
    package static let `default` = CompatibilityLevel.backward

    /// A level from a request body; anything else is 42203 (invalid compatibility level).
    package init(parsing text: String) throws(SchemaError) {
        guard let level = CompatibilityLevel(rawValue: text.uppercased()) else {
            throw SchemaError(.invalidCompatibilityLevel, "Invalid compatibility level: \(text)")
        }
        self = level
    }

    /// Why `new` may not be registered after `previous` (oldest first); empty when it may. The
    /// non-transitive levels look at the latest previous schema only, as Confluent's do.
    package func incompatibilities(of new: ParsedSchema, previous: [ParsedSchema]) -> [String] {
        let against: ArraySlice<ParsedSchema>
        switch self {
        case .none: return []
        case .backward, .forward, .full: against = previous.suffix(1)
        case .backwardTransitive, .forwardTransitive, .fullTransitive: against = previous[...]
        }
        var problems: [String] = []
        for (offset, old) in against.enumerated().reversed() {
            let label = against.count == 1 ? "latest schema" : "schema \(offset + 1) of \(against.count)"
            if [.backward, .backwardTransitive, .full, .fullTransitive].contains(self) {
                problems += new.incompatibilities(readingDataWrittenWith: old).map { "backward vs \(label): \($0)" }
            }
            if [.forward, .forwardTransitive, .full, .fullTransitive].contains(self) {
                problems += old.incompatibilities(readingDataWrittenWith: new).map { "forward vs \(label): \($0)" }
            }
        }
        return problems
    }

    /// Throws `incompatibleSchema` (HTTP 409) listing the problems when `new` may not be registered.
    package func check(_ new: ParsedSchema, previous: [ParsedSchema]) throws(SchemaError) {
        let problems = incompatibilities(of: new, previous: previous)
        guard problems.isEmpty else {
            throw SchemaError(
                .incompatibleSchema,
                "Schema being registered is incompatible with an earlier schema for compatibility level \(rawValue): "
                    + problems.joined(separator: "; "))
        }
    }
}
