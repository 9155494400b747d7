/// Messages and bytes a connection received from its client (`in`) and wrote to it (`out`), payload
/// bytes (headers included) as nats-server counts them.
package struct NATSTraffic: Sendable, Hashable {
    package var inMessages = 0
    package var inBytes = 0
    package var outMessages = 0
    package var outBytes = 0

    package init(inMessages: Int = 0, inBytes: Int = 0, outMessages: Int = 0, outBytes: Int = 0) {
        self.inMessages = inMessages
        self.inBytes = inBytes
        self.outMessages = outMessages
        self.outBytes = outBytes
    }

    package static func + (left: NATSTraffic, right: NATSTraffic) -> NATSTraffic {
        NATSTraffic(
            inMessages: left.inMessages + right.inMessages, inBytes: left.inBytes + right.inBytes,
            outMessages: left.outMessages + right.outMessages, outBytes: left.outBytes + right.outBytes)
    }
}

/// One live NATS connection as the monitoring endpoints show it, taken on the connection's own loop.
package struct NATSConnectionSnapshot: Sendable, Hashable {
    /// One `SUB` of the connection.
    package struct Subscription: Sendable, Hashable {
        package var subject: String
        package var queue: String?
        package var sid: String
        /// Messages delivered to it so far.
        package var messages: Int

        package init(subject: String, queue: String?, sid: String, messages: Int) {
            self.subject = subject
            self.queue = queue
            self.sid = sid
            self.messages = messages
        }
    }

    /// The `client_id` of its INFO (nats-server's `cid`).
    package var clientID: UInt64
    /// Over WebSocket (`type` `websocket`) rather than TCP (`nats`).
    package var isWebSocket = false
    package var ip: String?
    package var port: Int?
    /// When it connected and when it last sent something: nanoseconds since the Unix epoch.
    package var startedAt: UInt64
    package var lastActivityAt: UInt64
    /// Bytes written by the server and not yet handed to the socket.
    package var pendingBytes = 0
    package var traffic = NATSTraffic()
    package var subscriptions: [Subscription] = []
    /// From CONNECT.
    package var name: String?
    package var lang: String?
    package var version: String?
    /// The authenticated user, if any.
    package var user: String?

    package init(clientID: UInt64, startedAt: UInt64, lastActivityAt: UInt64) {
        self.clientID = clientID
        self.startedAt = startedAt
        self.lastActivityAt = lastActivityAt
    }
}
