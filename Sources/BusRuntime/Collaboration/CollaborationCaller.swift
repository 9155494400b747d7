package import BusCore

/// Who asks the collaboration service for something: a user (from the HTTP credentials, or the connection a
/// publish came from), their roles, and whether they are an admin (who may do anything).
package struct CollaborationCaller: Sendable, Hashable {
    package var user: String?
    package var roles: [String]
    package var isAdmin: Bool

    package init(user: String?, roles: [String] = [], isAdmin: Bool = false) {
        self.user = user
        self.roles = roles
        self.isAdmin = isAdmin
    }

    /// How events name the caller (`actor`): the user, else `admin` or `anonymous`.
    var actor: String { user ?? (isAdmin ? "admin" : "anonymous") }

    func takesPart(in session: CollaborationSession) -> Bool {
        isAdmin || session.admits(user, roles: roles)
    }

    func owns(_ session: CollaborationSession) -> Bool { isAdmin || (user != nil && user == session.owner) }
}

/// Why the collaboration service refused a request; each protocol maps the kind to its own answer
/// (HTTP status, the native WebSocket error code, an RPC reply).
package struct CollaborationError: Error, Sendable, Hashable, CustomStringConvertible {
    package enum Kind: String, Sendable, Hashable {
        case badRequest = "bad_request"
        case unauthorized
        case forbidden = "permission_denied"
        case notFound = "not_found"
        case conflict
        case unavailable
    }

    package var kind: Kind
    package var message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }

    static func bad(_ message: String) -> CollaborationError { CollaborationError(.badRequest, message) }
    static let sessionNotFound = CollaborationError(.notFound, "no such session")
    static let voteNotFound = CollaborationError(.notFound, "no such vote in this session")
}
