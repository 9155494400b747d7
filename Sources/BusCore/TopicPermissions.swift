/// What one client may do on the bus: the topics it may publish to and the filters it may subscribe
/// with (DESIGN.md §6). Every frontend asks the same two questions before it publishes or subscribes,
/// and maps a "no" to its own protocol's refusal (docs/security.md).
package struct TopicPermissions: Sendable, Hashable {
    /// One direction's rule.
    package enum Rule: Sendable, Hashable {
        /// Everything (no rule configured for this client).
        case all
        /// Only topics matched by these filters; an empty list allows nothing.
        case only([TopicFilter])
    }

    /// Topics the client may publish to (also: RPC requests and replies it sends).
    package var publish: Rule
    /// Filters the client may subscribe with (also: history and presence reads).
    package var subscribe: Rule
    /// Ordered allow/deny rules asked before the two lists (`TopicACL`).
    package var acl: TopicACL
    /// Virtual hosts, exchanges and queues of the queue broker (AMQP's configure/write/read).
    package var resources: ResourcePermissions
    /// The collaboration sessions' channels (`sessions/<id>/…`), open to each session's participants only;
    /// nil for a client that sees everything (an admin, or anyone on a server without credentials).
    package var sessions: SessionGate?

    package init(
        publish: Rule = .all, subscribe: Rule = .all, acl: TopicACL = TopicACL(),
        resources: ResourcePermissions = .unrestricted
    ) {
        self.publish = publish
        self.subscribe = subscribe
        self.acl = acl
        self.resources = resources
    }

    /// No restriction in either direction.
    package static let unrestricted = TopicPermissions()

    /// Whether no topic is restricted (the hot path skips the checks; `resources` are asked apart).
    package var isUnrestricted: Bool { publish == .all && subscribe == .all && acl.isEmpty && sessions == nil }

    /// What a subscription of this client checks per delivery: its ACL when a rule denies reading, else
    /// nil (nothing to check).
    package var readACL: TopicACL? { acl.deniesReading ? acl : nil }

    /// Whether the client may publish to `topic`: the first ACL rule that matches it decides, else some
    /// allowed filter must match it.
    package func mayPublish(_ topic: Topic) -> Bool {
        if let sessions, !sessions.permitsPublishing(topic) { return false }
        if !acl.isEmpty, let decided = acl.decidePublish(topic) { return decided }
        switch publish {
        case .all: return true
        case .only(let filters): return filters.contains { $0.matches(topic) }
        }
    }

    /// Whether a "yes" of `mayPublish(topic)` holds for the rest of the connection, so a frontend may
    /// remember it: not for a session's channel, whose participants can change.
    package func publishDecisionLasts(_ topic: Topic) -> Bool {
        sessions == nil || SessionGate.session(of: topic.name) == nil
    }

    /// Whether the client may read `topic` (history, presence, a concrete subscription).
    package func mayRead(_ topic: Topic) -> Bool {
        if let sessions, !sessions.permitsReading(topic) { return false }
        if !acl.isEmpty, let decided = acl.decideRead(topic) { return decided }
        switch subscribe {
        case .all: return true
        case .only(let filters): return filters.contains { $0.matches(topic) }
        }
    }

    /// Whether the client may subscribe with `filter`: some allowed filter covers every topic the
    /// requested one can match, so a subscription never delivers beyond the client's rights. A shared
    /// subscription is judged by its pattern (the group name grants nothing).
    package func maySubscribe(_ filter: TopicFilter) -> Bool {
        if let sessions, !sessions.permitsSubscribing(filter) { return false }
        if !acl.isEmpty, let decided = acl.decideSubscribe(filter) { return decided }
        switch subscribe {
        case .all: return true
        case .only(let filters):
            let requested = filter.levels
            return filters.contains { TopicPermissions.covers($0.levels, requested) }
        }
    }

    /// Whether every topic matched by `requested` is matched by `allowed`.
    package static func covers(_ allowed: [Substring], _ requested: [Substring]) -> Bool {
        // [MQTT-4.7.2-1] a leading wildcard in the grant does not reach '$' topics, so it cannot cover a
        // request that starts with a '$' level or with a wildcard that the server applies to '$' names.
        if let first = requested.first, first.hasPrefix("$"), let grant = allowed.first, grant == "+" || grant == "#" {
            return false
        }
        var index = 0
        while index < allowed.count {
            let grant = allowed[index]
            if grant == "#" { return true }
            guard index < requested.count else { return false }
            let level = requested[index]
            if level == "#" { return false }  // the request reaches deeper than this grant
            if grant != "+" && (level == "+" || !TopicBytes.equal(grant, level)) { return false }
            index += 1
        }
        return index == requested.count
    }
}
