package import NIOCore

/// A message on the bus. Immutable once made; its payload `ByteBuffer` is shared by every delivery
/// (never copied per subscriber).
package final class BusMessage: Sendable {
    /// What the message is: a publication, or a presence event the bus raised.
    package enum Kind: Sendable, Hashable {
        case publish
        case join(PresenceInfo)
        case leave(PresenceInfo)
    }

    package let topic: Topic
    package let payload: ByteBuffer
    package let headers: MessageHeaders
    /// The connection that published it (for no-local / echo rules), when a client did.
    package let publisherID: String?
    /// Wall-clock time of publication, nanoseconds since the Unix epoch.
    package let timestamp: UInt64
    /// Where it sits in its topic's log, when the topic keeps history.
    package let position: LogPosition?
    package let kind: Kind
    /// `headers.expiresAt` and `position.offset` (0 without a log), kept apart so the delivery loop reads
    /// them without copying the structs that hold them (which would retain their strings).
    package let expiresAt: UInt64
    package let offset: UInt64
    /// `kind == .publish`, without copying the enum.
    package let isPublication: Bool
    /// The payload's form when the publisher already knows it (it parsed the JSON it forwards), so no
    /// encoder has to classify the bytes again; nil: classified on demand.
    package let knownPayloadForm: PayloadForm?
    /// Published on another instance and brought here by the engine (Redis): routed to local subscribers,
    /// never sent back out (docs/redis.md).
    package let isRemote: Bool

    package init(
        topic: Topic,
        payload: ByteBuffer,
        headers: MessageHeaders = MessageHeaders(),
        publisherID: String? = nil,
        timestamp: UInt64,
        position: LogPosition? = nil,
        kind: Kind = .publish,
        payloadForm: PayloadForm? = nil,
        isRemote: Bool = false
    ) {
        self.knownPayloadForm = payloadForm
        self.isRemote = isRemote
        self.topic = topic
        self.payload = payload
        self.headers = headers
        self.publisherID = publisherID
        self.timestamp = timestamp
        self.position = position
        self.kind = kind
        self.expiresAt = headers.expiresAt ?? .max
        self.offset = position?.offset ?? 0
        if case .publish = kind { self.isPublication = true } else { self.isPublication = false }
    }

    /// The same message placed in a log.
    package func positioned(at position: LogPosition) -> BusMessage {
        BusMessage(
            topic: topic, payload: payload, headers: headers, publisherID: publisherID, timestamp: timestamp,
            position: position, kind: kind, payloadForm: knownPayloadForm, isRemote: isRemote)
    }

    /// The same message with another payload buffer (the same bytes, compacted for keeping).
    package func withPayload(_ payload: ByteBuffer) -> BusMessage {
        BusMessage(
            topic: topic, payload: payload, headers: headers, publisherID: publisherID, timestamp: timestamp,
            position: position, kind: kind, payloadForm: knownPayloadForm, isRemote: isRemote)
    }

    /// Whether storing this message here would store it a second time: it was heard from another instance
    /// (see `isRemote`) and `storeShared` says this store is the one the instances share, where the instance
    /// it was published on stored it (its durable log, its `file` streams, its durable queues). Every
    /// consumer that writes the store asks this first, and only delivers such a message (docs/operations.md,
    /// "Durable state shared too").
    package func isStoredElsewhere(storeShared: Bool) -> Bool { isRemote && storeShared }

    /// The same message marked as brought from another instance (see `isRemote`).
    package func fromRemoteInstance() -> BusMessage {
        BusMessage(
            topic: topic, payload: payload, headers: headers, publisherID: publisherID, timestamp: timestamp,
            position: nil, kind: kind, payloadForm: knownPayloadForm, isRemote: true)
    }

    /// The same message marked as brought from another instance, at `position` in the log the instances
    /// share (docs/redis.md, "History across instances"): its own publications come back this way too.
    package func fromRemoteInstance(at position: LogPosition?) -> BusMessage {
        BusMessage(
            topic: topic, payload: payload, headers: headers, publisherID: publisherID, timestamp: timestamp,
            position: position, kind: kind, payloadForm: knownPayloadForm, isRemote: true)
    }

    /// How text protocols carry the payload (docs/topics.md, "payload rule"): as the publisher declared
    /// it (`knownPayloadForm`), else computed on demand — the frontends encode once per message per wire
    /// form, so this runs once per message per event loop and form.
    package var payloadForm: PayloadForm {
        knownPayloadForm ?? PayloadForm.classify(payload, contentType: headers.contentType)
    }
}

/// Headers carried across protocols. Each protocol maps what it has onto these and ignores the rest.
///
/// An immutable box replaced on write: most messages carry no headers and share one empty box, so
/// making, copying and destroying a message's headers costs one reference count, not one per field,
/// and reads need no exclusivity checks.
package struct MessageHeaders: Sendable, Hashable {
    private struct Fields: Hashable {
        var contentType: String?
        var correlationID: String?
        var replyTo: String?
        var userProperties: [UserProperty] = []
        var expiresAt: UInt64?
        var priority: UInt8?
        var eventType: String?
        var qos: UInt8?
        var retain = false
        var payloadIsUTF8: Bool?
        var durableSequence: UInt64?
        var native: NativeProperties?
    }

    private final class Box: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
        static let empty = Box(Fields())
    }

    private var box: Box

    package var contentType: String? {
        get { box.fields.contentType }
        set { update { $0.contentType = newValue } }
    }
    package var correlationID: String? {
        get { box.fields.correlationID }
        set { update { $0.correlationID = newValue } }
    }
    /// Where a reply should be published (request/reply).
    package var replyTo: String? {
        get { box.fields.replyTo }
        set { update { $0.replyTo = newValue } }
    }
    package var userProperties: [UserProperty] {
        get { box.fields.userProperties }
        set { update { $0.userProperties = newValue } }
    }
    /// Absolute expiry, nanoseconds since the Unix epoch.
    package var expiresAt: UInt64? {
        get { box.fields.expiresAt }
        set { update { $0.expiresAt = newValue } }
    }
    package var priority: UInt8? {
        get { box.fields.priority }
        set { update { $0.priority = newValue } }
    }

    /// True when no header is set (the shared empty box): a reader can skip asking for each one.
    package var isEmpty: Bool { box === Box.empty }

    /// Whether there is a content type or a user property (what header-carrying protocols write out).
    package var hasContentTypeOrProperties: Bool {
        box.fields.contentType != nil || !box.fields.userProperties.isEmpty
    }
    /// The publisher's event type (SSE `event:`, e.g. `task.created`); nil means the default, `message`.
    /// Checked by `MessageHeaders.validateEventType` where a client sets it.
    package var eventType: String? {
        get { box.fields.eventType }
        set { update { $0.eventType = newValue } }
    }

    /// The publisher's delivery guarantee (MQTT QoS 0-2); nil for protocols without one (delivered as 0).
    package var qos: UInt8? {
        get { box.fields.qos }
        set { update { $0.qos = newValue } }
    }
    /// The message's number in the store's session message log, when it was stored for persistent
    /// sessions before its publisher was acknowledged (MQTT QoS 1/2). Sessions record their progress by it.
    package var durableSequence: UInt64? {
        get { box.fields.durableSequence }
        set { update { $0.durableSequence = newValue } }
    }
    /// The publisher's own encoding of its properties, when its protocol has more than the fields above
    /// can say (AMQP's typed header table, message-id, timestamp, type, app-id): a subscriber of the same
    /// protocol gets them back byte for byte; other protocols read the mapped fields.
    package var native: NativeProperties? {
        get { box.fields.native }
        set { update { $0.native = newValue } }
    }
    /// Published with MQTT's retain flag (for retain-as-published subscriptions).
    package var retain: Bool {
        get { box.fields.retain }
        set { update { $0.retain = newValue } }
    }
    /// MQTT 5 Payload Format Indicator: true when the publisher declared the payload UTF-8 text.
    package var payloadIsUTF8: Bool? {
        get { box.fields.payloadIsUTF8 }
        set { update { $0.payloadIsUTF8 = newValue } }
    }

    package init(
        contentType: String? = nil, correlationID: String? = nil, replyTo: String? = nil,
        userProperties: [UserProperty] = [], expiresAt: UInt64? = nil, priority: UInt8? = nil,
        eventType: String? = nil, qos: UInt8? = nil, retain: Bool = false, payloadIsUTF8: Bool? = nil,
        durableSequence: UInt64? = nil, native: NativeProperties? = nil
    ) {
        // Most messages have no headers at all: no fields to build or compare.
        if contentType == nil && correlationID == nil && replyTo == nil && userProperties.isEmpty && expiresAt == nil
            && priority == nil && eventType == nil && qos == nil && !retain && payloadIsUTF8 == nil
            && durableSequence == nil && native == nil
        {
            box = .empty
            return
        }
        box = Box(
            Fields(
                contentType: contentType, correlationID: correlationID, replyTo: replyTo,
                userProperties: userProperties, expiresAt: expiresAt, priority: priority, eventType: eventType,
                qos: qos, retain: retain, payloadIsUTF8: payloadIsUTF8, durableSequence: durableSequence,
                native: native))
    }

    /// Longest event type a publisher may set.
    package static let maxEventTypeLength = 128

    /// Why `type` cannot be an event type, or nil when it can: 1…128 bytes of printable ASCII without
    /// spaces, so it fits one SSE `event:` line (WHATWG HTML §9.2.6: a line ends at CR or LF) and reads
    /// the same in every protocol.
    package static func validateEventType(_ type: String) -> String? {
        guard !type.isEmpty, type.utf8.count <= maxEventTypeLength else {
            return "event type must be 1 to \(maxEventTypeLength) bytes"
        }
        guard type.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return "event type must be printable ASCII without spaces"
        }
        return nil
    }

    private mutating func update(_ change: (inout Fields) -> Void) {
        var fields = box.fields
        change(&fields)
        // Back to no headers at all: the shared empty box again (what `isEmpty` relies on).
        box = fields == Box.empty.fields ? .empty : Box(fields)
    }

    package static func == (lhs: MessageHeaders, rhs: MessageHeaders) -> Bool {
        lhs.box === rhs.box || lhs.box.fields == rhs.box.fields
    }

    package func hash(into hasher: inout Hasher) { hasher.combine(box.fields) }
}

/// A message's properties as its publisher's protocol encoded them (`MessageHeaders.native`).
package struct NativeProperties: Sendable, Hashable {
    /// Whose encoding `bytes` are: the frontend's name (`amqp`).
    package var protocolName: String
    /// The encoded properties, opaque to everyone but that protocol.
    package var bytes: ByteBuffer

    package init(protocolName: String, bytes: ByteBuffer) {
        self.protocolName = protocolName
        self.bytes = bytes
    }
}

/// One key/value header (MQTT user property, NATS header, AMQP header table entry).
package struct UserProperty: Sendable, Hashable {
    package var name: String
    package var value: String
    package init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A message's place in its topic's log. The epoch changes whenever the log is lost or reset, so an
/// offset is only meaningful together with its epoch.
package struct LogPosition: Sendable, Hashable {
    package var offset: UInt64
    package var epoch: String
    package init(offset: UInt64, epoch: String) {
        self.offset = offset
        self.epoch = epoch
    }
}
