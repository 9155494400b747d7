/// A frame's command (STOMP 1.2 §"Client Frames", §"Server Frames").
package enum STOMPCommand: String, Sendable, CaseIterable {
    // Client frames.
    case connect = "CONNECT"
    case stomp = "STOMP"
    case send = "SEND"
    case subscribe = "SUBSCRIBE"
    case unsubscribe = "UNSUBSCRIBE"
    case ack = "ACK"
    case nack = "NACK"
    case begin = "BEGIN"
    case commit = "COMMIT"
    case abort = "ABORT"
    case disconnect = "DISCONNECT"
    // Server frames.
    case connected = "CONNECTED"
    case message = "MESSAGE"
    case receipt = "RECEIPT"
    case error = "ERROR"

    /// CONNECT, STOMP and CONNECTED headers are never escaped: they are exchanged before the version is
    /// known (1.2 §"Value Encoding").
    package var escapesHeaders: Bool {
        switch self {
        case .connect, .stomp, .connected: false
        default: true
        }
    }

    /// Frames that may carry a body (1.2: only SEND, MESSAGE and ERROR).
    package var allowsBody: Bool {
        switch self {
        case .send, .message, .error: true
        default: false
        }
    }
}
