package import BusCore
package import NIOCore

/// A connection that receives messages from the bus. Implemented by each frontend's connection
/// handler; every call arrives on `eventLoop`, never concurrently.
package protocol BusSubscriber: AnyObject {
    /// The loop this subscriber lives on: deliveries are made there.
    var eventLoop: any EventLoop { get }
    /// Which protocol's counters its deliveries count in.
    var metricsSlot: ProtocolMetricsSlot { get }
    /// Scratch for the shard: marks the subscriber as already queued for this batch's flush.
    var deliveryMark: UInt64 { get set }
    /// Writes (without flushing) one message for one of its subscriptions. A connection with
    /// overlapping subscriptions is called once per matching subscription; it decides whether that
    /// means one delivery or several.
    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    /// Flushes what `deliver` wrote. Called once per batch for every subscriber that was delivered to.
    func flushDeliveries()
    /// Whether it takes plain publications without a message object (`deliverPlain`); read once, when a
    /// subscription is made.
    var takesPlainPublications: Bool { get }
    /// Writes (without flushing) a plain publication — no headers, no position, no reply — of a packed run
    /// (`LoopShard.publishPlain`) for one of its subscriptions, from bytes valid only during the call. Called
    /// only when `takesPlainPublications`, with the subscription's no-local and read ACL already applied.
    func deliverPlain(
        topic: Topic, payload: UnsafeRawBufferPointer, publisherID: String?, timestamp: UInt64,
        for subscription: BusSubscription
    ) -> DeliveryOutcome
    /// Whether this subscriber's client can resume from a log position after a reconnect (WebSocket
    /// `recover`, SSE `Last-Event-ID`, long-poll cursors, Socket.IO and SignalR recovery): its
    /// subscriptions make an on-demand history log (`HistoryLimits.onDemand`). NATS and MQTT cannot.
    var resumesFromPositions: Bool { get }
}

extension BusSubscriber {
    package var resumesFromPositions: Bool { false }
    package var takesPlainPublications: Bool { false }
    package func deliverPlain(
        topic: Topic, payload: UnsafeRawBufferPointer, publisherID: String?, timestamp: UInt64,
        for subscription: BusSubscription
    ) -> DeliveryOutcome {
        preconditionFailure("deliverPlain called on a subscriber that takes messages only")
    }
}

/// What a delivery did, for the counters.
package enum DeliveryOutcome {
    /// Written; `bytes` on the wire.
    case delivered(bytes: Int)
    /// Dropped by the slow-consumer policy (outbound buffer full).
    case dropped
    /// Not for this subscriber (no-local, duplicate of an overlapping subscription, already recovered).
    case skipped
}

/// Carried through one message's deliveries on one event loop: encoded wire forms are cached here so
/// each form is built once per message per loop and its `ByteBuffer` is shared by every subscriber.
package struct DeliveryContext {
    /// Unowned: a context lives only inside one delivery call of the shard, which holds the message
    /// for longer (a strong reference here cost a retain and a release per message per loop).
    package unowned(unsafe) let message: BusMessage
    private var firstKey: WireFormKey?
    private var first: ByteBuffer?
    /// Further forms, rare: nil until needed, so a context costs no dictionary per message.
    private var more: [WireFormKey: ByteBuffer]?
    /// Whether the message is a record change event and what its view check is, found once per message
    /// per loop (not per subscriber): nil until asked; `.some(nil)` when no check applies.
    private var recordCheck: RecordEventCheck??

    package init(message: BusMessage) { self.message = message }

    /// What reading the message's topic needs of a gated subscriber (`SessionGate`), found once per
    /// message per loop rather than under the session directory's lock per subscriber: nil until asked.
    private var sessionCheck: SessionDirectory.ReadCheck?

    /// Whether a subscriber behind `gate` may receive this message (docs/collaboration.md).
    mutating func mayRead(_ gate: SessionGate) -> Bool {
        if sessionCheck == nil { sessionCheck = gate.directory.readCheck(message.topic) }
        return gate.permitsReading(sessionCheck.unsafelyUnwrapped)
    }

    /// What a content filter is matched against, parsed once per message per loop: nil until asked.
    private var contentSubject: JSONValue??

    /// Whether `viewer` may receive this message: anything but a record change event, or one whose
    /// collection's view rule holds for the viewer (docs/records.md).
    mutating func mayView(_ viewer: RecordViewer, _ records: RecordCollections) -> Bool {
        if recordCheck == nil { recordCheck = .some(records.check(message)) }
        guard let check = recordCheck.unsafelyUnwrapped else { return true }
        return check.allows(viewer)
    }

    /// Whether the message matches a subscription's content filter (`SubscriptionOptions.contentFilter`).
    mutating func matches(_ filter: RecordFilter, viewer: RecordViewer?, now: UInt64) -> Bool {
        if contentSubject == nil { contentSubject = .some(RecordCollections.contentSubject(message)) }
        guard let subject = contentSubject.unsafelyUnwrapped else { return false }
        return filter.matches(subject, request: RecordRuleSet.context(viewer, now: now))
    }

    /// The bytes of wire form `form` for this message, made by `encode` the first time they are asked for.
    package mutating func encoded(form: WireFormKey, _ encode: (BusMessage) -> ByteBuffer) -> ByteBuffer {
        if firstKey == form, let first { return first }
        if first == nil {
            let bytes = encode(message)
            firstKey = form
            first = bytes
            return bytes
        }
        if let cached = more?[form] { return cached }
        let bytes = encode(message)
        if more == nil { more = [:] }
        more![form] = bytes
        return bytes
    }
}

/// The key of one wire form in `DeliveryContext`'s encode-once cache. Its namespace is the type that
/// owns the form (a protocol's handler), so two protocols can never share a key and send each other's
/// bytes, and no central list of numbers has to be kept; `variant` tells apart the forms one owner has
/// (MQTT version × retain flag, SSE chunked or not).
package struct WireFormKey: Hashable, Sendable {
    private let owner: ObjectIdentifier
    private let variant: Int

    package init(_ owner: Any.Type, variant: Int = 0) {
        self.owner = ObjectIdentifier(owner)
        self.variant = variant
    }
}

/// Per-subscription delivery options; protocols use what they have.
package struct SubscriptionOptions: Sendable {
    /// Don't deliver a connection's own publications back to it (MQTT no-local, NATS echo=false).
    package var noLocal: Bool
    /// Highest QoS granted (MQTT); 0 for protocols without one.
    package var maxQoS: UInt8
    /// MQTT subscription identifier.
    package var identifier: Int?
    /// More identifiers a folded delivery carries (MQTT: one copy for overlapping subscriptions,
    /// [MQTT-3.3.4-4]).
    package var moreIdentifiers: [Int] = []
    /// The subscriber's ACL when it denies reading some topics (`TopicPermissions.readACL`): a
    /// delivery on such a topic is skipped, even through a broader filter. nil: nothing to check.
    package var readACL: TopicACL?
    /// Who the subscriber is to record collections' view rules: a change event on
    /// `collections/<c>/<id>` is delivered only when the rule lets this viewer see the record. nil: an
    /// admin (or the bus's own subscription), who sees every record.
    package var viewer: RecordViewer?
    /// A filter in the records' language the message must match (a native WebSocket subscribe's
    /// `filter`): a record change event is matched on its record, any other message on its JSON object
    /// payload; a message that is neither does not match. nil: every message.
    package var contentFilter: RecordFilter?
    /// The subscriber's view of the collaboration sessions' channels (`TopicPermissions.sessions`): a
    /// delivery on a session it does not take part in is skipped, even through `#`. nil: it sees them all.
    package var sessions: SessionGate?

    package init(
        noLocal: Bool = false, maxQoS: UInt8 = 0, identifier: Int? = nil, readACL: TopicACL? = nil,
        viewer: RecordViewer? = nil, contentFilter: RecordFilter? = nil
    ) {
        self.noLocal = noLocal
        self.maxQoS = maxQoS
        self.identifier = identifier
        self.readACL = readACL
        self.viewer = viewer
        self.contentFilter = contentFilter
    }

    /// Every subscription identifier a delivery under these options carries.
    package var identifiers: [Int] {
        guard let identifier else { return moreIdentifiers }
        return moreIdentifiers.isEmpty ? [identifier] : [identifier] + moreIdentifiers
    }
}
