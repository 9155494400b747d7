import Synchronization

/// Who takes part in each collaboration session, for the permission checks of every protocol: the
/// `sessions/<id>/…` channels are open to a session's participants only (docs/collaboration.md). Kept
/// by the collaboration service; read by `SessionGate` on publishes, subscribes, reads and deliveries.
package final class SessionDirectory: Sendable {
    /// Who takes part in one session.
    package struct Entry: Sendable {
        var owner: String
        var participants: Set<String>
        var roles: [String]
        var open: Bool

        func admits(user: String?, roles: [String], posting: Bool) -> Bool {
            guard let user else { return false }
            if posting && !open { return false }
            return owner == user || participants.contains(user) || roles.contains(where: self.roles.contains)
        }
    }

    /// What reading a topic needs: nothing (not a session channel), or the membership of its session
    /// (nil: no such session, so nobody gated reads it). Found once per message per loop for deliveries.
    package enum ReadCheck: Sendable {
        case open
        case session(Entry?)
    }

    private let entries = Mutex<[String: Entry]>([:])

    package init() {}

    package func update(_ session: CollaborationSession) {
        let entry = Entry(
            owner: session.owner, participants: Set(session.participants.keys), roles: session.roles,
            open: session.state == .open)
        entries.withLock { $0[session.id] = entry }
    }

    package func remove(_ id: some StringProtocol) {
        entries.withLock { _ = $0.removeValue(forKey: String(id)) }
    }

    /// Whether `user` (with `roles`) takes part in session `id`; `posting`: and the session is open.
    func admits(_ id: Substring, user: String?, roles: [String], posting: Bool) -> Bool {
        guard user != nil else { return false }
        return entries.withLock { entries in
            entries[String(id)]?.admits(user: user, roles: roles, posting: posting) ?? false
        }
    }

    /// What reading `topic` needs (one lock when it is a session channel).
    package func readCheck(_ topic: Topic) -> ReadCheck {
        guard let id = SessionGate.session(of: topic.name) else { return .open }
        return .session(entries.withLock { $0[String(id)] })
    }
}

/// One client's view of the session channels (`TopicPermissions.sessions`): a topic under
/// `sessions/<id>/` is its only when it takes part in session `id`. Clients that see everything (admins,
/// anyone on a server with no credentials configured) have no gate.
package struct SessionGate: Sendable, Hashable {
    package let directory: SessionDirectory
    package let user: String?
    package let roles: [String]

    package init(directory: SessionDirectory, user: String?, roles: [String]) {
        self.directory = directory
        self.user = user
        self.roles = roles
    }

    package static func == (lhs: SessionGate, rhs: SessionGate) -> Bool {
        lhs.directory === rhs.directory && lhs.user == rhs.user && lhs.roles == rhs.roles
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(directory))
        hasher.combine(user)
        hasher.combine(roles)
    }

    /// The session a topic belongs to: its second level when the first is `sessions`.
    @inline(__always)
    static func session(of name: String) -> Substring? {
        guard name.utf8.starts(with: "sessions/".utf8) else { return nil }
        let rest = name.dropFirst(9)
        return rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first
    }

    /// Whether the client may publish to `topic` (post, cast): a participant of an open session.
    package func permitsPublishing(_ topic: Topic) -> Bool {
        guard let id = Self.session(of: topic.name) else { return true }
        return directory.admits(id, user: user, roles: roles, posting: true)
    }

    /// Whether the client may read a topic whose `readCheck` this is (deliveries: found once per message).
    @inline(__always)
    package func permitsReading(_ check: SessionDirectory.ReadCheck) -> Bool {
        switch check {
        case .open: return true
        case .session(let entry): return entry?.admits(user: user, roles: roles, posting: false) ?? false
        }
    }

    /// Whether the client may read `topic` (a delivery, history, presence).
    @inline(__always)
    package func permitsReading(_ topic: Topic) -> Bool {
        guard let id = Self.session(of: topic.name) else { return true }
        return directory.admits(id, user: user, roles: roles, posting: false)
    }

    /// Whether the client may subscribe with `filter`: a filter naming one session needs its membership; a
    /// broader one (`sessions/+/…`, `#`) is allowed and its deliveries are checked one by one.
    package func permitsSubscribing(_ filter: TopicFilter) -> Bool {
        let levels = filter.levels
        guard levels.count >= 2, levels[0] == "sessions", levels[1] != "+", levels[1] != "#" else { return true }
        return directory.admits(levels[1], user: user, roles: roles, posting: false)
    }
}
