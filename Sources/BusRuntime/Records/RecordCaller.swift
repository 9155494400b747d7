package import BusCore

/// Who asks the records service for something, as its rules see them: admins pass every rule; anyone else
/// is `@request.auth` (`id` is "" when anonymous, as PocketBase's guests), and `changedBy` names them in the
/// change events (`api`, `mcp`, `cli`, or the user).
package struct RecordCaller: Sendable {
    package var isAdmin: Bool
    /// `@request.auth`: an object with at least `id`.
    package var auth: JSONValue
    /// `@request.query`: the request's query parameters.
    package var query: [String: String]
    package var changedBy: String

    package init(isAdmin: Bool, auth: JSONValue, query: [String: String] = [:], changedBy: String) {
        self.isAdmin = isAdmin
        self.auth = auth
        self.query = query
        self.changedBy = changedBy
    }

    /// An admin acting through `via` (`api`, `mcp`, `cli`).
    package static func admin(via: String) -> RecordCaller {
        RecordCaller(isAdmin: true, auth: .object([JSONField(key: "id", value: .string(""))]), changedBy: via)
    }
}

/// One page of a listing, PocketBase's `{page, perPage, totalItems, totalPages, items}`.
package struct RecordPage: Sendable {
    package var page: Int
    package var perPage: Int
    /// -1 when the caller asked to skip the count (`skipTotal`).
    package var totalItems: Int
    package var totalPages: Int
    package var items: [Record]
}

/// A listing's parameters, parsed: PocketBase's `page` (from 1), `perPage` (default 30, at most 1,000),
/// `sort`, `filter` and `skipTotal`.
package struct RecordListQuery: Sendable {
    package static let defaultPerPage = 30
    package static let maxPerPage = 1_000

    package var page = 1
    package var perPage = RecordListQuery.defaultPerPage
    package var filter: String?
    package var sort: String?
    package var skipTotal = false

    package init() {}
}
