/// A collaboration session (issue 21, docs/collaboration.md): a room with an owner, invited participants
/// (users, each with a voting weight, and roles), a state, and its channels under `sessions/<id>/…`.
package struct CollaborationSession: Sendable, Hashable {
    package enum State: String, Sendable, Hashable {
        case open, closed
    }

    package var id: String
    package var title: String
    package var owner: String
    /// Invited users and their voting weight (1 unless given).
    package var participants: [String: Double]
    /// Every user with one of these roles may take part too.
    package var roles: [String]
    package var state: State
    /// Nanoseconds since 1970.
    package var created: UInt64
    package var closed: UInt64?

    package init(
        id: String, title: String, owner: String, participants: [String: Double] = [:], roles: [String] = [],
        state: State = .open, created: UInt64, closed: UInt64? = nil
    ) {
        self.id = id
        self.title = title
        self.owner = owner
        self.participants = participants
        self.roles = roles
        self.state = state
        self.created = created
        self.closed = closed
    }

    /// Whether `user` (with `roles`) takes part: the owner, an invited user, or a holder of an invited role.
    package func admits(_ user: String?, roles userRoles: [String]) -> Bool {
        guard let user else { return false }
        return user == owner || participants[user] != nil || userRoles.contains(where: roles.contains)
    }

    /// A participant's voting weight (1 for the owner and role members who are not listed).
    package func weight(of user: String) -> Double { participants[user] ?? 1 }

    /// Who can vote as far as a vote can know: the owner and the listed participants; complete unless
    /// roles admit others.
    package var electorate: VoteElectorate {
        var weights = participants
        if weights[owner] == nil { weights[owner] = 1 }
        return VoteElectorate(weights: weights, complete: roles.isEmpty)
    }

    /// Session ids: 1 to 64 letters, digits, `_` or `-` (one topic level, no wildcard).
    package static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64
            && id.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x5F || $0 == 0x2D
            }
    }
}
