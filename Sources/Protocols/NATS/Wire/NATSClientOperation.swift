public import NIOCore

/// One operation a client sent, as the parser found it. Byte fields are slices of the read buffer.
public enum NATSClientOperation: Sendable, Equatable {
    /// `CONNECT {json}`.
    case connect(NATSConnectOptions)
    /// `PUB` or `HPUB`.
    case publish(NATSPublish)
    /// `SUB <subject> [queue] <sid>`.
    case subscribe(subject: String, queue: String?, sid: String)
    /// `UNSUB <sid> [max_msgs]`.
    case unsubscribe(sid: String, maxMessages: Int?)
    case ping
    case pong
    /// `INFO`, `+OK` or `-ERR` from a client: valid, and without effect on a client connection.
    case ignored
}

/// A `PUB` or `HPUB`: slices of the read buffer, copied by no one on the way to the bus.
public struct NATSPublish: Sendable, Equatable {
    public var subject: ByteBuffer
    public var replyTo: ByteBuffer?
    /// The header block (`NATS/1.0\r\n…\r\n\r\n`) of an `HPUB`.
    public var headers: ByteBuffer?
    public var payload: ByteBuffer

    public init(subject: ByteBuffer, replyTo: ByteBuffer? = nil, headers: ByteBuffer? = nil, payload: ByteBuffer) {
        self.subject = subject
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }
}
