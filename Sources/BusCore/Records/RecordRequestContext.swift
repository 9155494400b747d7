/// What a filter may know about the request besides the record: PocketBase's `@request.*` fields and the
/// clock behind the date macros (`@now`, `@todayStart`, …).
///
/// The handler builds it; the filter never reads a clock or a socket itself.
package struct RecordRequestContext: Sendable, Hashable {
    /// The caller's auth record (`@request.auth.*`: `id`, `email`, roles, any claim); `nil` for an
    /// anonymous caller, whose `@request.auth.id` is null and so equals `""`, as in PocketBase.
    package var auth: JSONValue?
    /// `@request.method`: `GET`, `POST`, ….
    package var method: String
    /// `@request.context`: `default`, `realtime`, `oauth2`, ….
    package var context: String
    /// `@request.query.*`: the URL's query parameters.
    package var query: [String: String]
    /// `@request.headers.*`: header names lowercased with `-` turned into `_`, as PocketBase does.
    package var headers: [String: String]
    /// `@request.body.*`: the submitted record fields (an object, or `.null` when there is no body).
    package var body: JSONValue
    /// Wall-clock time for the date macros, nanoseconds since the Unix epoch.
    package var now: Int64

    package init(
        auth: JSONValue? = nil,
        method: String = "GET",
        context: String = "default",
        query: [String: String] = [:],
        headers: [String: String] = [:],
        body: JSONValue = .null,
        now: Int64
    ) {
        self.auth = auth
        self.method = method
        self.context = context
        self.query = query
        self.headers = headers
        self.body = body
        self.now = now
    }
}
