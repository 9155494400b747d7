/// Why bytes are not RESP. The connection that sent them cannot be trusted to stay in step and is closed.
public struct RESPDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong, for logs and tests.
    public enum Reason: Sendable, Equatable {
        /// The first byte of a value is no RESP type.
        case unknownType(UInt8)
        /// A line holds a CR not followed by LF.
        case invalidLineEnding
        /// An integer, length, double, boolean or big number does not parse.
        case invalidNumber
        /// A bulk value's bytes are not followed by CRLF.
        case missingTerminator
        /// A length below -1, or -1 where RESP allows no null.
        case invalidLength
        /// A null (`_`) with something on its line.
        case invalidNull
        /// A verbatim string without its `xxx:` format prefix.
        case invalidVerbatimString
        /// A streamed (`$?`) value: not supported yet.
        case streamedValue
        /// A bound of `RESPLimits` (named) was exceeded.
        case limitExceeded(String)
    }

    public let reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String { "RESP decoding error: \(reason)" }
}
