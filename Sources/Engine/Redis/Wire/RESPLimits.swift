/// The bounds the RESP decoder checks before it allocates or waits for more bytes. Every length read
/// from the wire is checked against one of these first.
public struct RESPLimits: Sendable, Equatable {
    /// The longest bulk string, bulk error or verbatim string. Default 512 MiB: Redis's own
    /// `proto-max-bulk-len`, so no value a server can store is refused.
    public var maxBulkLength: Int
    /// The most elements of one array, set or push, or pairs of one map or attribute. Default 16 Mi: far
    /// above any reply we ask for (a page of a stream, a pub/sub message), and an element takes at least
    /// three bytes, so the bound is reached only with that much data buffered.
    public var maxAggregateCount: Int
    /// How deeply aggregates may nest. Default 32: our replies nest at most four levels (XREAD); the bound
    /// keeps the recursive decoder's stack small.
    public var maxDepth: Int
    /// The longest line (simple string, simple error, number, type header) without its CRLF. Default
    /// 64 KiB: without it, a line with no CRLF would be buffered without bound.
    public var maxLineLength: Int

    public init(
        maxBulkLength: Int = 512 * 1024 * 1024, maxAggregateCount: Int = 16 * 1024 * 1024, maxDepth: Int = 32,
        maxLineLength: Int = 64 * 1024
    ) {
        self.maxBulkLength = maxBulkLength
        self.maxAggregateCount = maxAggregateCount
        self.maxDepth = maxDepth
        self.maxLineLength = maxLineLength
    }
}
