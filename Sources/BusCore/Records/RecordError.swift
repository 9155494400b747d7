/// Why a records operation was refused, in PocketBase's terms (the HTTP API maps each case to its status
/// and JSON shape `{"status","message","data"}`).
package enum RecordError: Error, Sendable, Hashable {
    /// 400, with a message.
    case badRequest(String)
    /// 400 with `data: {field: {code, message}}` (PocketBase's validation error).
    case invalidField(String, String)
    /// 401: credentials were given and refused.
    case unauthorized
    /// 403: the action's rule is nil and the caller is not an admin.
    case onlyAdmins
    /// 404: no such collection (`Missing collection context.`) or record (or one the caller may not see).
    case collectionNotFound
    case recordNotFound
    /// 400 (PocketBase's answer to a duplicate name): a collection with that name exists already.
    case exists(String)
    /// 412: `If-Match` named another version.
    case versionConflict(current: UInt64)
    /// 503: the store could not keep the change (nothing of it was applied).
    case unavailable(String)
}
