import BusCore
package import NATSWire
package import NIOCore

/// The NATS connection a pull request came from, as JetStream sees it: pulled messages and the
/// request's status messages are written to it, on its loop, for its subscription of the request's
/// reply subject (with the stored subject, as nats-server delivers them).
package protocol JetStreamClient: AnyObject, Sendable {
    var eventLoop: any EventLoop { get }
    /// Whether the connection is still open (called on `eventLoop`): a waiting pull request ends with it.
    var isOpenForJetStream: Bool { get }
    /// Whether anyone subscribes to `inbox` now (called on `eventLoop`): a waiting pull request whose
    /// reply subject lost its subscriber ends, as nats-server drops it, instead of taking messages no one
    /// will read.
    func hasJetStreamInterest(in inbox: String) -> Bool
    /// Writes `messages` to the subscription that receives `inbox` and flushes (called on `eventLoop`).
    func deliverJetStream(_ messages: [JetStreamOutboundMessage], inbox: String)
}

/// A message a pull consumer sends: a stored message (with its `$JS.ACK…` reply subject) or a status.
package struct JetStreamOutboundMessage: Sendable {
    package var subject: String
    package var replyTo: String?
    package var headers: NATSHeaderBlock?
    package var payload: ByteBuffer

    package init(subject: String, replyTo: String?, headers: NATSHeaderBlock?, payload: ByteBuffer) {
        self.subject = subject
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }

    /// A status message (`NATS/1.0 404 No Messages`, `408 Request Timeout` …) on the inbox.
    package static func status(
        _ code: Int, _ description: String, inbox: String, fields: [(String, String)] = []
    ) -> Self {
        let block = NATSHeaderBlock(
            status: code, statusDescription: description,
            fields: fields.map { UserProperty(name: $0.0, value: $0.1) })
        return Self(subject: inbox, replyTo: nil, headers: block, payload: ByteBuffer())
    }
}
