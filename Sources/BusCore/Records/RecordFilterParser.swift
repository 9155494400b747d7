/// Builds a `RecordFilterExpression` from tokens: `||` over `&&` over parenthesised groups and comparisons.
///
/// fexpr's grammar (a flat list of `operand sign operand` or `(group)` items joined by `&&`/`||`) with
/// SQL's precedence, which is what PocketBase ends up running. Recursion is bounded by
/// `RecordFilterLimits.maxNestingDepth`; the condition count by `maxConditions`.
struct RecordFilterParser {
    private var scanner: RecordFilterScanner
    private var token: RecordFilterToken
    private let limits: RecordFilterLimits
    private(set) var conditionCount = 0

    init(_ text: String, limits: RecordFilterLimits) throws(RecordFilterError) {
        guard text.utf8.count <= limits.maxFilterBytes else {
            throw RecordFilterError("longer than \(limits.maxFilterBytes) bytes", at: limits.maxFilterBytes)
        }
        self.limits = limits
        scanner = RecordFilterScanner(text)
        token = try scanner.next()
    }

    mutating func parse() throws(RecordFilterError) -> RecordFilterExpression {
        if token.kind == .end { throw RecordFilterError("empty filter expression", at: token.offset) }
        let expression = try parseDisjunction(depth: 0)
        switch token.kind {
        case .end: return expression
        case .close: throw RecordFilterError("unexpected )", at: token.offset)
        default: throw RecordFilterError("expected && or ||", at: token.offset)
        }
    }

    private mutating func advance() throws(RecordFilterError) { token = try scanner.next() }

    private mutating func parseDisjunction(depth: Int) throws(RecordFilterError) -> RecordFilterExpression {
        var parts = [try parseConjunction(depth: depth)]
        while token.kind == .or {
            try advance()
            parts.append(try parseConjunction(depth: depth))
        }
        return parts.count == 1 ? parts[0] : .any(parts)
    }

    private mutating func parseConjunction(depth: Int) throws(RecordFilterError) -> RecordFilterExpression {
        var parts = [try parsePrimary(depth: depth)]
        while token.kind == .and {
            try advance()
            parts.append(try parsePrimary(depth: depth))
        }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private mutating func parsePrimary(depth: Int) throws(RecordFilterError) -> RecordFilterExpression {
        guard token.kind == .open else { return .condition(try parseCondition()) }
        let open = token.offset
        guard depth < limits.maxNestingDepth else {
            throw RecordFilterError("nested deeper than \(limits.maxNestingDepth) parentheses", at: open)
        }
        try advance()
        // fexpr refuses an empty group, `()`, as it refuses an empty filter.
        if token.kind == .close { throw RecordFilterError("empty parentheses", at: open) }
        let inner = try parseDisjunction(depth: depth + 1)
        guard token.kind == .close else {
            if token.kind == .end { throw RecordFilterError("missing ) for the ( at \(open)", at: token.offset) }
            throw RecordFilterError("expected && or || or )", at: token.offset)
        }
        try advance()
        return inner
    }

    private mutating func parseCondition() throws(RecordFilterError) -> RecordFilterCondition {
        let start = token.offset
        conditionCount += 1
        guard conditionCount <= limits.maxConditions else {
            throw RecordFilterError("more than \(limits.maxConditions) conditions", at: start)
        }
        let left = try parseOperand()
        guard case .sign(let sign) = token.kind else {
            throw RecordFilterError("expected an operator such as = or ~", at: token.offset)
        }
        guard let op = RecordFilterOperator(sign: sign) else {
            throw RecordFilterError("unknown operator \"\(sign)\"", at: token.offset)
        }
        try advance()
        let right = try parseOperand()
        return RecordFilterCondition(left: left, op: op, right: right)
    }

    private mutating func parseOperand() throws(RecordFilterError) -> RecordFilterOperand {
        let operand: RecordFilterOperand
        switch token.kind {
        case .text(let text): operand = .text(text)
        case .number(let number): operand = .number(number)
        case .identifier(let name): operand = try Self.resolve(name, at: token.offset)
        default: throw RecordFilterError("expected an operand (a field, text or number)", at: token.offset)
        }
        try advance()
        return operand
    }
}
