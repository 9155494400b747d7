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
