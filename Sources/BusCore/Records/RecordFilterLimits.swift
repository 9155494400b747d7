/// Bounds on `filter` and `sort` expressions, checked while parsing so that no input can make parsing or
/// evaluation slow or deeply recursive.
package struct RecordFilterLimits: Sendable, Hashable {
    /// Longest filter, in UTF-8 bytes. PocketBase's `search.MaxFilterLength` (3,500), so a filter
    /// PocketBase accepts is accepted here; an access rule is a filter too.
    package var maxFilterBytes: Int
    /// Most comparisons (`a = b`) in one filter. PocketBase's `search.DefaultFilterExprLimit` (200):
    /// evaluation is linear in this, and it runs per record per delivery.
    package var maxConditions: Int
    /// Deepest parenthesis nesting. PocketBase has no such limit (its Go recursion copes); ours bounds the
    /// parser's and evaluator's recursion. Hand-written rules nest two or three levels; 32 leaves room
    /// for generated ones.
    package var maxNestingDepth: Int
    /// Most fields in one `sort`. PocketBase's `search.DefaultSortExprLimit` (8).
    package var maxSortFields: Int
    /// Longest sort field name, in UTF-8 bytes. PocketBase's `search.MaxSortFieldLength` (255).
    package var maxSortFieldBytes: Int

    package init(
        maxFilterBytes: Int = 3_500,
        maxConditions: Int = 200,
        maxNestingDepth: Int = 32,
        maxSortFields: Int = 8,
        maxSortFieldBytes: Int = 255
    ) {
        self.maxFilterBytes = maxFilterBytes
        self.maxConditions = maxConditions
        self.maxNestingDepth = maxNestingDepth
        self.maxSortFields = maxSortFields
        self.maxSortFieldBytes = maxSortFieldBytes
    }
}
