/// A PocketBase filter or access rule, parsed once and evaluated against many records.
///
/// The language is fexpr's as PocketBase runs it (https://pocketbase.io/docs/api-rules-and-filters/):
/// `title ~ "draft" && (owner = @request.auth.id || public = true)`. Comparisons follow SQLite as
/// PocketBase renders them, so a rule means the same here as in PocketBase; see `RecordFilterScalar`
/// and `RecordFilterLikePattern` for the details and docs/records-filter.md for what differs.
package struct RecordFilter: Sendable, Hashable {
    /// The parsed expression.
    package let expression: RecordFilterExpression
    /// Record fields the filter reads, as dotted paths in first-use order, so the API can refuse a
    /// filter naming a field the collection does not have (PocketBase answers 400).
    package let referencedFields: [String]

    /// Parses `text`; throws for anything PocketBase would refuse and for input beyond `limits`.
    package init(parsing text: String, limits: RecordFilterLimits = RecordFilterLimits()) throws(RecordFilterError) {
        var parser = try RecordFilterParser(text, limits: limits)
        expression = try parser.parse()
        var fields: [String] = []
        var seen: Set<String> = []
        Self.collectFields(expression, into: &fields, seen: &seen)
        referencedFields = fields
    }

    private static func collectFields(
        _ expression: RecordFilterExpression,
        into fields: inout [String],
        seen: inout Set<String>
    ) {
        switch expression {
        case .condition(let condition):
            for operand in [condition.left, condition.right] {
                if let field = operand.referencedField, seen.insert(field).inserted { fields.append(field) }
            }
        case .all(let parts), .any(let parts):
            for part in parts { collectFields(part, into: &fields, seen: &seen) }
        }
    }

    /// Whether `record` (a JSON object) passes the filter for this request. Fields the record lacks are null.
    package func matches(_ record: JSONValue, request: RecordRequestContext) -> Bool {
        RecordFilterEvaluator(record: record, request: request).evaluate(expression)
    }
}
