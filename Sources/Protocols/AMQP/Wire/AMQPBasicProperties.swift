/// The 14 properties of class basic's content header (§1.8 of the reference, "basic" class fields), each
/// present or absent. Only present ones are written; their presence is the header's property flags.
package struct AMQPBasicProperties: Sendable, Hashable {
    /// MIME type, e.g. "application/json".
    package var contentType: String?
    /// MIME content encoding, e.g. "gzip".
    package var contentEncoding: String?
    /// Application headers.
    package var headers: AMQPFieldTable?
    /// 1: transient, 2: persistent.
    package var deliveryMode: UInt8?
    /// 0-9.
    package var priority: UInt8?
    package var correlationID: String?
    package var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (RabbitMQ).
    package var expiration: String?
    package var messageID: String?
    /// Seconds since the epoch.
    package var timestamp: UInt64?
    package var type: String?
    /// Checked against the authenticated user by RabbitMQ.
    package var userID: String?
    package var appID: String?
    /// Deprecated (reserved in 0-9-1); carried through.
    package var clusterID: String?

    package init(
        contentType: String? = nil, contentEncoding: String? = nil, headers: AMQPFieldTable? = nil,
        deliveryMode: UInt8? = nil, priority: UInt8? = nil, correlationID: String? = nil, replyTo: String? = nil,
        expiration: String? = nil, messageID: String? = nil, timestamp: UInt64? = nil, type: String? = nil,
        userID: String? = nil, appID: String? = nil, clusterID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
        self.clusterID = clusterID
    }

    /// Flag bits of the property flags word, highest bit first in property order (§4.2.6.1).
    package enum Flag {
        package static let contentType: UInt16 = 1 << 15
        package static let contentEncoding: UInt16 = 1 << 14
        package static let headers: UInt16 = 1 << 13
        package static let deliveryMode: UInt16 = 1 << 12
        package static let priority: UInt16 = 1 << 11
        package static let correlationID: UInt16 = 1 << 10
        package static let replyTo: UInt16 = 1 << 9
        package static let expiration: UInt16 = 1 << 8
        package static let messageID: UInt16 = 1 << 7
        package static let timestamp: UInt16 = 1 << 6
        package static let type: UInt16 = 1 << 5
        package static let userID: UInt16 = 1 << 4
        package static let appID: UInt16 = 1 << 3
        package static let clusterID: UInt16 = 1 << 2
        /// Bit 0: another flags word follows (§4.2.6.1).
        package static let continuation: UInt16 = 1
    }
}
