/// One stream's answer to an append: given only once the record is stored (a `file` stream: committed
/// by the store), or at once when it is refused or kept in memory.
package struct StreamAppendAck: Sendable, Equatable, CustomStringConvertible {
    package enum Outcome: Sendable, Equatable {
        /// Stored at `offset`.
        case stored
        /// The message id was seen within the duplicate window: `offset` is the first copy's.
        case duplicate
        /// Not stored: a limit (`StreamAppendRefusal`'s raw value), a partition out of range, or a store
        /// failure, said in words.
        case refused(String)
    }

    package var stream: String
    package var partition: Int
    /// 0 when refused.
    package var offset: UInt64
    package var epoch: String
    package var outcome: Outcome

    package var description: String {
        switch outcome {
        case .stored: return "\(stream)[\(partition)]@\(offset)"
        case .duplicate: return "\(stream)[\(partition)]@\(offset) (duplicate)"
        case .refused(let reason): return "\(stream)[\(partition)] refused: \(reason)"
        }
    }
}
