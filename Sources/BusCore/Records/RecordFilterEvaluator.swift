/// Evaluates a parsed filter against one record and request. Recursion follows the parse tree, whose
/// depth `RecordFilterLimits.maxNestingDepth` bounds.
struct RecordFilterEvaluator {
    /// An operand's values: one, or each element of an array (an empty array is one null, as the
    /// LEFT JOIN over `json_each` PocketBase uses yields one NULL row).
    struct Values: Sendable {
        var scalars: [RecordFilterScalar]
        /// A bound parameter rather than a column: `~` wraps a parameter's text in `%…%` with its own
        /// wildcards escaped, but a column's as it is (`search.buildResolversExpr`).
        var isParameter: Bool
    }

    let record: JSONValue
    let request: RecordRequestContext

    func evaluate(_ expression: RecordFilterExpression) -> Bool {
        switch expression {
        case .condition(let condition): evaluate(condition)
        case .all(let parts): parts.allSatisfy { evaluate($0) }
        case .any(let parts): parts.contains { evaluate($0) }
        }
    }

    /// Without `?` every element pair must match (PocketBase's multi-match subquery); with `?` one pair.
    func evaluate(_ condition: RecordFilterCondition) -> Bool {
        Self.holds(values(condition.left), condition.op, values(condition.right))
    }

    /// Whether `left op right` holds for the operands' values (`RecordFilterBinding` compares values it
    /// read once with values read per request).
    static func holds(_ left: Values, _ op: RecordFilterOperator, _ right: Values) -> Bool {
        let comparison = op.comparison
        let test: (RecordFilterScalar, RecordFilterScalar) -> Bool
        switch comparison {
        case .equal: test = { $0.equals($1) }
        case .notEqual: test = { !$0.equals($1) }
        case .less: test = { $0.compare($1).map { $0 < 0 } ?? false }
        case .lessOrEqual: test = { $0.compare($1).map { $0 <= 0 } ?? false }
        case .greater: test = { $0.compare($1).map { $0 > 0 } ?? false }
        case .greaterOrEqual: test = { $0.compare($1).map { $0 >= 0 } ?? false }
        case .like, .notLike:
            let wanted = comparison == .like
            let patterns = right.scalars.map { scalar -> RecordFilterLikePattern? in
                guard let text = scalar.likeText else { return nil }
                return right.isParameter
                    ? RecordFilterLikePattern(parameter: text) : RecordFilterLikePattern(column: text)
            }
            let anyOf = op.anyOf
            let matchesOne = { (scalar: RecordFilterScalar) -> Bool in
                // NULL on either side makes LIKE and NOT LIKE both NULL, which filters the row out.
                guard let text = scalar.likeText else { return false }
                let each = { (pattern: RecordFilterLikePattern?) in pattern.map { $0.matches(text) == wanted } ?? false
                }
                return anyOf ? patterns.contains(where: each) : patterns.allSatisfy(each)
            }
            return anyOf ? left.scalars.contains(where: matchesOne) : left.scalars.allSatisfy(matchesOne)
        }
        if op.anyOf {
            return left.scalars.contains { a in right.scalars.contains { b in test(a, b) } }
        }
        return left.scalars.allSatisfy { a in right.scalars.allSatisfy { b in test(a, b) } }
    }

    func values(_ operand: RecordFilterOperand) -> Values {
        switch operand {
        case .text(let text): return Values(scalars: [.text(text)], isParameter: true)
        case .number(let number): return Values(scalars: [.number(number)], isParameter: true)
        // PocketBase writes these as the SQL tokens 1, 0 and NULL, not as parameters.
        case .bool(let flag): return Values(scalars: [.number(flag ? 1 : 0)], isParameter: false)
        case .null: return Values(scalars: [.null], isParameter: false)
        case .macro(let macro): return Values(scalars: [macro.value(now: request.now)], isParameter: true)
        case .field(let path, let modifier):
            return Values(scalars: Self.scalars(Self.lookup(record, path[...]), modifier), isParameter: false)
        case .request(let source, let path, let modifier):
            return requestValues(source, path, modifier)
        }
    }

    private func requestValues(
        _ source: RecordRequestSource,
        _ path: [String],
        _ modifier: RecordFilterModifier?
    ) -> Values {
        let value: JSONValue?
        switch source {
        case .method: value = .string(request.method)
        case .context: value = .string(request.context)
        case .query: value = request.query[path.joined(separator: ".")].map(JSONValue.string)
        case .headers: value = request.headers[path.joined(separator: ".")].map(JSONValue.string)
        case .auth: value = request.auth.flatMap { Self.lookup($0, path[...]) }
        case .body: value = Self.lookup(request.body, path[...])
        }
        switch modifier {
        case .isset?:
            return Values(scalars: [.number(value == nil ? 0 : 1)], isParameter: false)
        case .changed?:
            let changed = value.map { !Self.same($0, Self.lookup(record, path[...]) ?? .null) } ?? false
            return Values(scalars: [.number(changed ? 1 : 0)], isParameter: false)
        default:
            let scalars = Self.scalars(value, modifier)
            // A missing or null request value is the SQL token NULL, not a parameter.
            return Values(scalars: scalars, isParameter: scalars != [.null])
        }
    }
}
