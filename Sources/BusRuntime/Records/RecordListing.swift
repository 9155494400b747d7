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
