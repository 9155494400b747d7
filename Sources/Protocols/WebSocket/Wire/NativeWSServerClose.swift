/// Why the server closes a native WebSocket connection, and the close code and reason each one gets:
/// the one map from the server's reasons to the protocol's codes (RFC 6455 §7.4.1; 1013 "try again
/// later" is IANA-registered). Frame-level failures (1002, 1007, 1009) come from
/// `WebSocketCloseCode` in FrontendKit's frame validator.
package enum NativeWSServerClose: Sendable, Equatable {
    /// The server is shutting down.
    case shutdown
    /// `DELETE /api/connections/{id}`.
    case administrative
    /// The outbound buffer overflowed under the `disconnect` policy.
    case slowConsumer
    /// Nothing arrived within the pong window.
    case keepAliveTimeout
    /// Anonymous access is off and no `connect` succeeded in time.
    case connectTimeout
    /// A connection limit refused the connection after the upgrade (two clients raced for a last slot).
    case connectionLimit
    /// The token ran out without a `refresh`.
    case tokenExpired
    /// A frame opcode the protocol does not use.
    case unexpectedOpcode

    /// The close code sent.
    package var code: UInt16 {
        switch self {
        case .shutdown: 1001
        case .administrative, .slowConsumer, .keepAliveTimeout, .connectTimeout, .tokenExpired: 1008
        case .connectionLimit: 1013
        case .unexpectedOpcode: 1002
        }
    }

    /// The close reason sent: one the client can act on.
    package var reason: String {
        switch self {
        case .shutdown: "server shutting down"
        case .administrative: "closed by the administrator"
        case .slowConsumer: "slow consumer: outbound buffer full"
        case .keepAliveTimeout: "keep-alive timeout"
        case .connectTimeout: "no successful connect request in time"
        case .connectionLimit: "connection limit reached"
        case .tokenExpired: "token expired"
        case .unexpectedOpcode: "unexpected opcode"
        }
    }
}
