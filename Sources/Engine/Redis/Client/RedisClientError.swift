/// Every way a Redis command or connection fails. One error type for the module: Redis's own error
/// replies are `.server`, everything else is about the connection.
public enum RedisClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Redis answered with an error reply (`-ERR …`, `-WRONGPASS …`, `!…`). The command failed; the
    /// connection is fine.
    case server(String)
    /// There is no connection right now (not connected yet, or reconnecting after a drop): the command
    /// was not sent.
    case notConnected
    /// The connection dropped while the command was in flight: Redis may or may not have run it.
    case connectionClosed
    /// `close()` was called.
    case clientClosed
    /// Redis sent something this client cannot follow (malformed RESP, a reply nobody asked for); the
    /// connection is closed and reconnects.
    case protocolViolation(String)
    /// The `redis://` URL does not parse.
    case invalidURL(String)
    /// Through Sentinel: no sentinel gave the master's address, or the server it gave is not the master
    /// (yet). The attempt failed; a reconnect asks again.
    case sentinel(String)

    /// The error reply's code, its first word (`ERR`, `WRONGPASS`, `NOAUTH`), for `.server`.
    public var serverErrorCode: Substring? {
        guard case .server(let message) = self else { return nil }
        return message.split(separator: " ", maxSplits: 1).first
    }

    public var description: String {
        switch self {
        case .server(let message): "Redis error: \(message)"
        case .notConnected: "not connected to Redis (reconnecting)"
        case .connectionClosed: "the Redis connection closed while the command was in flight"
        case .clientClosed: "the Redis client is closed"
        case .protocolViolation(let why): "Redis protocol violation: \(why)"
        case .invalidURL(let why): "invalid Redis URL: \(why)"
        case .sentinel(let why): "Redis Sentinel: \(why)"
        }
    }
}
