/// Bounds the codec checks before allocating anything, and the values the server proposes in
/// connection.tune. Every length read from the wire is compared with one of these (or with the bytes left
/// in a frame that was itself checked against `frameMax`) first.
package struct AMQPLimits: Sendable, Hashable {
    /// Largest frame, header and frame-end included, the server proposes in connection.tune and accepts
    /// once tune-ok has been received. RabbitMQ's default (`frame_max = 131072`): large enough that a
    /// typical message is one body frame, small enough that one frame never holds a connection up.
    package var frameMax: Int
    /// Highest channel number the server proposes. RabbitMQ's default (`channel_max = 2047`).
    package var channelMax: UInt16
    /// Heartbeat interval the server proposes, in seconds. RabbitMQ's default (60).
    package var heartbeatSeconds: UInt16
    /// Deepest nesting of field tables and arrays (a table's own fields are depth 1). Real argument and
    /// header tables nest two or three deep (`x-death` is an array of tables); 16 leaves room and bounds
    /// the decoder's recursion.
    package var maxFieldTableDepth: Int
    /// Largest message body a publisher may declare in a content header. RabbitMQ 4's default
    /// `max_message_size` (16 MiB); checked against the header's body size before any body is buffered.
    package var maxMessageSize: UInt64
    /// Seconds a client has from the protocol header to connection.open-ok before the socket closes
    /// (RabbitMQ's `handshake_timeout`, 10 s).
    package var handshakeTimeoutSeconds: Int

    package init(
        frameMax: Int = 131_072, channelMax: UInt16 = 2047, heartbeatSeconds: UInt16 = 60,
        maxFieldTableDepth: Int = 16, maxMessageSize: UInt64 = 16 << 20, handshakeTimeoutSeconds: Int = 10
    ) {
        self.frameMax = frameMax
        self.channelMax = channelMax
        self.heartbeatSeconds = heartbeatSeconds
        self.maxFieldTableDepth = maxFieldTableDepth
        self.maxMessageSize = maxMessageSize
        self.handshakeTimeoutSeconds = handshakeTimeoutSeconds
    }

    /// The smallest frame-max a peer may negotiate, and the largest frame either peer may send before
    /// tune-ok (AMQP 0-9-1 §4.2.3, `frame-min-size`).
    package static let minFrameMax = 4096
    /// Frame header (type, channel, size) plus frame-end: what a frame adds to its payload (§4.2.3).
    package static let frameOverhead = 8
    /// How far past frame-max a received frame may go and still be accepted: RabbitMQ tolerates one empty
    /// frame's size because "quite a few [clients] get it wrong - off-by 1 or 8" (rabbit_reader's
    /// `FRAME_SIZE_FUDGE`), so we accept what RabbitMQ accepts. What we send respects frame-max exactly.
    package static let receivedFrameTolerance = 8
    /// A short string's length is one octet (§4.2.5.3).
    package static let maxShortStringBytes = 255
    // A long string, table or array lies inside one method or header frame, whose size was checked
    // against `frameMax` before it was read: their 32-bit lengths are checked against the bytes left in
    // that frame, so no separate long-string limit is needed.
}
