/// A parsed filter: comparisons joined by `&&` and `||`.
///
/// `&&` binds tighter than `||`. fexpr itself keeps a flat list of joins, but PocketBase renders that list
/// as SQL (`a OR b AND c`), where AND takes precedence, so `a || b && c` means `a || (b && c)`.
package indirect enum RecordFilterExpression: Sendable, Hashable {
    /// One comparison, `left op right`.
    case condition(RecordFilterCondition)
    /// Every part holds (`a && b && …`).
    case all([RecordFilterExpression])
    /// Some part holds (`a || b || …`).
    case any([RecordFilterExpression])
}

/// One comparison, `left op right`; either side may be a field, a literal, a macro or a request value.
package struct RecordFilterCondition: Sendable, Hashable {
    package var left: RecordFilterOperand
    package var op: RecordFilterOperator
    package var right: RecordFilterOperand

    package init(left: RecordFilterOperand, op: RecordFilterOperator, right: RecordFilterOperand) {
        self.left = left
        self.op = op
        self.right = right
    }
}
