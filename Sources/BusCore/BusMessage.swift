public import NIOCore

/// A message on the bus. Immutable once made; its payload `ByteBuffer` is shared by every delivery
/// (never copied per subscriber).
public final class BusMessage: Sendable {
    /// What the message is: a publication, or a presence event the bus raised.
    public enum Kind: Sendable, Hashable {
        case publish
        case join(PresenceInfo)
        case leave(PresenceInfo)
    }

    public let topic: Topic
    public let payload: ByteBuffer
    public let headers: MessageHeaders
    /// The connection that published it (for no-local / echo rules), when a client did.
    public let publisherID: String?
    /// Wall-clock time of publication, nanoseconds since the Unix epoch.
    public let timestamp: UInt64
    /// Where it sits in its topic's log, when the topic keeps history.
    public let position: LogPosition?
    public let kind: Kind

    public init(
        topic: Topic,
        payload: ByteBuffer,
        headers: MessageHeaders = MessageHeaders(),
        publisherID: String? = nil,
        timestamp: UInt64,
        position: LogPosition? = nil,
        kind: Kind = .publish
    ) {
        self.topic = topic
        self.payload = payload
        self.headers = headers
        self.publisherID = publisherID
        self.timestamp = timestamp
        self.position = position
        self.kind = kind
    }

    /// The same message placed in a log.
    public func positioned(at position: LogPosition) -> BusMessage {
        BusMessage(
            topic: topic, payload: payload, headers: headers, publisherID: publisherID, timestamp: timestamp,
            position: position, kind: kind)
    }

    /// How text protocols carry the payload (docs/topics.md, "payload rule"). Computed on demand: the
    /// frontends encode once per message per wire form, so this runs once per message per event loop.
    public var payloadForm: PayloadForm { PayloadForm.classify(payload, contentType: headers.contentType) }
}

/// Headers carried across protocols. Each protocol maps what it has onto these and ignores the rest.
public struct MessageHeaders: Sendable, Hashable {
    public var contentType: String?
    public var correlationID: String?
    /// Where a reply should be published (request/reply).
    public var replyTo: String?
    public var userProperties: [UserProperty]
    /// Absolute expiry, nanoseconds since the Unix epoch.
    public var expiresAt: UInt64?
    public var priority: UInt8?
    /// The publisher's delivery guarantee (MQTT QoS 0-2); nil for protocols without one (delivered as 0).
    public var qos: UInt8?
    /// Published with MQTT's retain flag (for retain-as-published subscriptions).
    public var retain: Bool
    /// MQTT 5 Payload Format Indicator: true when the publisher declared the payload UTF-8 text.
    public var payloadIsUTF8: Bool?

    public init(
        contentType: String? = nil, correlationID: String? = nil, replyTo: String? = nil,
        userProperties: [UserProperty] = [], expiresAt: UInt64? = nil, priority: UInt8? = nil, qos: UInt8? = nil,
        retain: Bool = false, payloadIsUTF8: Bool? = nil
    ) {
        self.qos = qos
        self.retain = retain
        self.payloadIsUTF8 = payloadIsUTF8
        self.contentType = contentType
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.userProperties = userProperties
        self.expiresAt = expiresAt
        self.priority = priority
    }
}

/// One key/value header (MQTT user property, NATS header, AMQP header table entry).
public struct UserProperty: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A message's place in its topic's log. The epoch changes whenever the log is lost or reset, so an
/// offset is only meaningful together with its epoch.
public struct LogPosition: Sendable, Hashable {
    public var offset: UInt64
    public var epoch: String
    public init(offset: UInt64, epoch: String) {
        self.offset = offset
        self.epoch = epoch
    }
}
