package import BusCore

/// A collection's access rules, parsed once (PocketBase's semantics): nil lets only admins act (403 for
/// anyone else), "" lets everyone, an expression lets whoever it holds for — on list it filters what is
/// listed, on view/update/delete a record it does not hold for is "not found", on create the record is
/// refused.
struct RecordRuleSet: Sendable {
    enum Rule: Sendable {
        case adminsOnly
        case everyone
        case filter(RecordFilter)
    }

    /// What one caller may do for one action: everything, or what a filter holds for.
    struct Access: Sendable {
        let filter: RecordFilter?
        func allows(_ record: JSONValue, _ context: RecordRequestContext) -> Bool {
            filter?.matches(record, request: context) ?? true
        }
    }

    private var rules: [RecordCollectionDefinition.Action: Rule] = [:]

    init(_ texts: [RecordCollectionDefinition.Action: String]) throws(RecordError) {
        for action in RecordCollectionDefinition.Action.allCases {
            guard let text = texts[action] else {
                rules[action] = .adminsOnly
                continue
            }
            if text.allSatisfy(\.isWhitespace) {
                rules[action] = .everyone
            } else {
                rules[action] = .filter(try Self.parseFilter(text, action.rawValue))
            }
        }
    }

    /// The view rule as it stands (the change events' per-subscriber check).
    var viewRule: Rule { rules[.view] ?? .adminsOnly }

    func access(_ action: RecordCollectionDefinition.Action, _ caller: RecordCaller) throws(RecordError) -> Access {
        if caller.isAdmin { return Access(filter: nil) }
        switch rules[action] ?? .adminsOnly {
        case .adminsOnly: throw .onlyAdmins
        case .everyone: return Access(filter: nil)
        case .filter(let filter): return Access(filter: filter)
        }
    }

    static func parseFilter(_ text: String, _ field: String) throws(RecordError) -> RecordFilter {
        do {
            return try RecordFilter(parsing: text)
        } catch {
            throw field == "filter"
                ? .badRequest("Invalid filter parameters: \(error).") : .invalidField(field, "Invalid rule: \(error).")
        }
    }

    /// `sort`, or the default order (oldest first, then by id) when there is none.
    static func parseSort(_ text: String?) throws(RecordError) -> Sort {
        guard let text, !text.allSatisfy(\.isWhitespace) else { return Sort(sort: nil) }
        do {
            return Sort(sort: try RecordSort(parsing: text))
        } catch {
            throw .badRequest("Invalid sort parameters: \(error).")
        }
    }

    struct Sort: Sendable {
        let sort: RecordSort?
        var referencedFields: [String] { sort?.referencedFields.filter { $0 != "@random" } ?? [] }
        /// `@random` orders by nothing: the caller shuffles.
        var isRandom: Bool { sort?.isRandom ?? false }
        func ordered(_ a: JSONValue, _ b: JSONValue) -> Bool {
            if let sort { return sort.areInIncreasingOrder(a, b) }
            let (createdA, createdB) = (a["created"]?.stringValue ?? "", b["created"]?.stringValue ?? "")
            if createdA != createdB { return createdA < createdB }
            return (a["id"]?.stringValue ?? "") < (b["id"]?.stringValue ?? "")
        }
    }

    /// The filter context of a subscriber (its `@request.auth`; an admin's is a guest's).
    static func context(_ viewer: RecordViewer?, now: UInt64) -> RecordRequestContext {
        let anonymous = viewer?.auth["id"]?.stringValue?.isEmpty ?? true
        return RecordRequestContext(
            auth: anonymous ? nil : viewer?.auth, context: "realtime", query: viewer?.query ?? [:],
            headers: viewer?.headers ?? [:], now: Int64(clamping: now))
    }

    /// The filter context of a caller's request.
    static func context(_ caller: RecordCaller, body: JSONValue?, now: UInt64) -> RecordRequestContext {
        let anonymous = caller.auth["id"]?.stringValue?.isEmpty ?? true
        return RecordRequestContext(
            auth: anonymous ? nil : caller.auth, query: caller.query, body: body ?? .null,
            now: Int64(clamping: now))
    }
}
