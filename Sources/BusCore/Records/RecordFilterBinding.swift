/// A filter with one record's values put in: what is left to decide depends on the request alone.
///
/// A change event is checked against its collection's view rule once per subscriber. Binding the record
/// once per event folds every comparison that reads only the record, literals and date macros into true
/// or false, and reads the record's side of the comparisons that name `@request.*`, so each subscriber
/// costs only the request values the rule still needs: `owner = @request.auth.id || public = true`
/// bound to a public record is `true` for every subscriber, and bound to a private one it is one text
/// compared with `@request.auth.id`. Evaluation has no side effects, so folding never changes an answer:
/// `matches` is `RecordFilter.matches` on the bound record (`RecordFilterBindingTests`).
package struct RecordFilterBinding: Sendable {
    indirect enum Node: Sendable {
        case constant(Bool)
        case condition(Condition)
        case all([Node])
        case any([Node])
    }

    /// A comparison with at least one side read from the request.
    struct Condition: Sendable {
        var left: Side
        var op: RecordFilterOperator
        var right: Side
    }

    /// One side of a comparison: its values read at binding, or an operand of the request.
    enum Side: Sendable {
        case bound(RecordFilterEvaluator.Values)
        case request(RecordFilterOperand)
    }

    private let root: Node
    /// The record, for what a request operand compares with it (`@request.body.x:changed`).
    private let record: JSONValue
    /// The clock the date macros were read at.
    package let now: Int64

    /// The outcome when no request can change it; nil when it depends on the request.
    package var decided: Bool? {
        if case .constant(let outcome) = root { return outcome }
        return nil
    }

    init(_ expression: RecordFilterExpression, record: JSONValue, now: Int64) {
        self.record = record
        self.now = now
        let evaluator = RecordFilterEvaluator(record: record, request: RecordRequestContext(now: now))
        root = Self.bind(expression, evaluator)
    }

    /// Whether the bound record passes the filter for `request`, whose `now` is the binding's.
    package func matches(_ request: RecordRequestContext) -> Bool {
        if case .constant(let outcome) = root { return outcome }
        return Self.evaluate(root, RecordFilterEvaluator(record: record, request: request))
    }

    private static func bind(_ expression: RecordFilterExpression, _ evaluator: RecordFilterEvaluator) -> Node {
        switch expression {
        case .condition(let condition):
            guard condition.left.readsRequest || condition.right.readsRequest else {
                return .constant(evaluator.evaluate(condition))
            }
            return .condition(
                Condition(
                    left: side(condition.left, evaluator), op: condition.op, right: side(condition.right, evaluator)))
        case .all(let parts):
            return fold(parts, evaluator, decisive: false)
        case .any(let parts):
            return fold(parts, evaluator, decisive: true)
        }
    }

    /// `&&` (decided by a false part) or `||` (decided by a true part): a deciding constant decides the
    /// whole, the other constant drops out.
    private static func fold(_ parts: [RecordFilterExpression], _ evaluator: RecordFilterEvaluator, decisive: Bool)
        -> Node
    {
        var kept: [Node] = []
        for part in parts {
            let node = bind(part, evaluator)
            if case .constant(let outcome) = node {
                if outcome == decisive { return node }
                continue
            }
            kept.append(node)
        }
        if kept.isEmpty { return .constant(!decisive) }
        if kept.count == 1 { return kept[0] }
        return decisive ? .any(kept) : .all(kept)
    }

    private static func side(_ operand: RecordFilterOperand, _ evaluator: RecordFilterEvaluator) -> Side {
        operand.readsRequest ? .request(operand) : .bound(evaluator.values(operand))
    }

    private static func evaluate(_ node: Node, _ evaluator: RecordFilterEvaluator) -> Bool {
        switch node {
        case .constant(let outcome): outcome
        case .condition(let condition):
            RecordFilterEvaluator.holds(
                values(condition.left, evaluator), condition.op, values(condition.right, evaluator))
        case .all(let parts): parts.allSatisfy { evaluate($0, evaluator) }
        case .any(let parts): parts.contains { evaluate($0, evaluator) }
        }
    }

    private static func values(_ side: Side, _ evaluator: RecordFilterEvaluator) -> RecordFilterEvaluator.Values {
        switch side {
        case .bound(let values): values
        case .request(let operand): evaluator.values(operand)
        }
    }
}

extension RecordFilter {
    /// This filter with `record`'s values put in, for evaluating against many requests whose `now` is `now`.
    package func bound(to record: JSONValue, now: Int64) -> RecordFilterBinding {
        RecordFilterBinding(expression, record: record, now: now)
    }
}

extension RecordFilterOperand {
    /// Whether the operand's value comes from the request (`@request.*`), so differs between subscribers.
    var readsRequest: Bool {
        if case .request = self { return true }
        return false
    }
}
