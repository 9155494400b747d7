package import BusCore
import NIOConcurrencyHelpers
import NIOCore

/// A subscriber as record collections' view rules see it (`SubscriptionOptions.viewer`): `@request.auth`,
/// an object with at least `id` ("" for a guest). Admins have no viewer: they see every record.
package struct RecordViewer: Sendable, Hashable {
    package var auth: JSONValue
    /// `@request.query.*` and `@request.headers.*` for the view rule: what PocketBase's realtime
    /// subscriptions carry in their `options` (empty otherwise).
    package var query: [String: String]
    package var headers: [String: String]

    package init(auth: JSONValue, query: [String: String] = [:], headers: [String: String] = [:]) {
        self.auth = auth
        self.query = query
        self.headers = headers
    }

    /// A guest: `@request.auth.id` is "".
    package static let guest = RecordViewer(auth: .object([JSONField(key: "id", value: .string(""))]))
}

/// The view check of one record change event, made once per message per loop and asked once per
/// subscriber: the collection's view rule when the message was delivered, with the record the event
/// carries put in (`RecordFilterBinding`), so what is left per subscriber is the few `@request.auth`
/// values the rule names — nothing at all when the record alone decides (`public = true`).
final class RecordEventCheck {
    private enum Access {
        case nobody
        case decided(Bool)
        case bound(RecordFilterBinding)
    }

    private let access: Access
    private let now: UInt64
    /// The last viewer asked about and its answer: subscribers with one identity (a user's connections,
    /// guests) usually follow each other in a delivery, and the answer cannot differ between them.
    private var lastViewer: RecordViewer?
    private var lastAllowed = false

    init(document: JSONValue, rule: RecordRuleSet.Rule, now: UInt64) {
        self.now = now
        switch rule {
        case .everyone: access = .decided(true)
        case .adminsOnly: access = .nobody
        case .filter(let filter):
            let binding = filter.bound(to: document, now: Int64(clamping: now))
            access = binding.decided.map(Access.decided) ?? .bound(binding)
        }
    }

    /// Shown to nobody but admins (an event whose record cannot be read).
    init() {
        access = .nobody
        now = 0
    }

    func allows(_ viewer: RecordViewer) -> Bool {
        switch access {
        case .nobody: return false
        case .decided(let allowed): return allowed
        case .bound(let binding):
            if let lastViewer, lastViewer == viewer { return lastAllowed }
            let allowed = binding.matches(RecordRuleSet.context(viewer, now: now))
            lastViewer = viewer
            lastAllowed = allowed
            return allowed
        }
    }
}

extension RecordCollections {
    /// The view check a message needs: nil when it is not a change event of a collection
    /// (`collections/<c>/<id>`) or when the collection lets everyone view; for an event of a collection
    /// that no longer exists, nobody but admins sees it.
    func check(_ message: BusMessage) -> RecordEventCheck? {
        let name = message.topic.name
        guard name.utf8.starts(with: "collections/".utf8), message.isPublication else { return nil }
        let levels = name.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard levels.count == 3, let collection = String(levels[1]) else { return nil }
        let rule = core.withLockedValue { $0.collections[collection]?.rules.viewRule } ?? .adminsOnly
        if case .everyone = rule { return nil }
        let document = message.payload.withUnsafeReadableBytes { try? JSONParser.parse($0) }?["record"]
        // An event whose record cannot be read is shown to nobody but admins.
        guard let document else { return RecordEventCheck() }
        return RecordEventCheck(document: document, rule: rule, now: bus.clock())
    }

    /// What a content filter sees of a message: a record change event's record, or the message's JSON
    /// object payload; nil for anything else.
    static func contentSubject(_ message: BusMessage) -> JSONValue? {
        guard message.isPublication,
            let value = message.payload.withUnsafeReadableBytes({ try? JSONParser.parse($0) }),
            case .object = value
        else { return nil }
        if message.topic.name.utf8.starts(with: "collections/".utf8), let record = value["record"] { return record }
        return value
    }

    /// Whether a subscription's options admit `message` as far as records go (its viewer and its content
    /// filter): reads of a stream for one subscriber.
    func admits(_ message: BusMessage, _ options: SubscriptionOptions) -> Bool {
        if let viewer = options.viewer, !mayView(message, viewer) { return false }
        guard let filter = options.contentFilter else { return true }
        guard let subject = Self.contentSubject(message) else { return false }
        return filter.matches(subject, request: RecordRuleSet.context(options.viewer, now: bus.clock()))
    }

    /// `check(message)` for one viewer (reads of history: one message, one subscriber).
    func mayView(_ message: BusMessage, _ viewer: RecordViewer) -> Bool {
        check(message)?.allows(viewer) ?? true
    }
}
