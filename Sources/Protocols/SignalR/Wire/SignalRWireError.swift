/// Why SignalR input was refused: the one error of the wire module. Every case is a protocol error of
/// the hub protocol spec (§Errors), after which the server closes the connection with a Close message
/// whose `error` is `message`; a refused handshake is answered with that text in the handshake
/// response's `error` instead.
package enum SignalRWireError: Error, Sendable, Equatable {
    /// Bytes that are not MessagePack (a format byte of `0xc1`, a truncated value, a length past the
    /// end, invalid UTF-8 in a str, a malformed timestamp) or nest deeper than allowed.
    case invalidMessagePack(String)
    /// A hub message of the wrong shape: not JSON, a missing or mistyped property, an array too short.
    case invalidMessage(String)
    /// A frame that cannot be delimited: a length prefix over 5 bytes or 2^31 − 1.
    case invalidFrame(String)
    /// A message (or the bytes awaiting its terminator) over `maxMessageSize`.
    case messageTooLarge(limit: Int)
    /// A handshake request that is not `{"protocol":…,"version":…}`.
    case invalidHandshake(String)
    /// A well-formed handshake asking for a protocol or version this server does not speak.
    case unsupportedProtocol(String)

    /// The text for a Close message's or handshake response's `error`.
    package var message: String {
        switch self {
        case .invalidMessagePack(let detail): "Error reading MessagePack: \(detail)."
        case .invalidMessage(let detail): detail
        case .invalidFrame(let detail): detail
        case .messageTooLarge(let limit): "The maximum message size of \(limit)B was exceeded."
        case .invalidHandshake(let detail): detail
        case .unsupportedProtocol(let detail): detail
        }
    }
}
