/// The subscription trie: filters are stored level by level, so matching a topic walks at most two
/// branches per level (the exact level and `+`) plus the `#` entries met on the way. The cost grows with
/// the topic's depth and the number of matches, never with the number of subscriptions
/// (the model is nats-server's `sublist.go`).
///
/// Not thread-safe: the bus guards it (BusRuntime's `SubscriptionRegistry`).
package final class SubscriptionIndex<Member: AnyObject> {
    final class Node {
        var children: [TopicLevel: Node] = [:]
        var plus: Node?
        /// Subscriptions whose filter ends in `#` right below this node.
        var hashMembers: [Member] = []
        var hashGroups: [SharedGroup<Member>] = []
        /// Subscriptions whose filter ends at this node.
        var members: [Member] = []
        var groups: [SharedGroup<Member>] = []

        var isEmpty: Bool {
            children.isEmpty && plus == nil && hashMembers.isEmpty && hashGroups.isEmpty
                && members.isEmpty && groups.isEmpty
        }
    }

    private struct GroupKey: Hashable {
        var name: String
        var pattern: String
    }

    private let root = Node()
    private var groupsByKey: [GroupKey: SharedGroup<Member>] = [:]
    /// Number of (filter, member) pairs stored, shared memberships included.
    package private(set) var count = 0

    package init() {}

    /// Adds `member` under `filter`. Adding the same pair twice stores it twice; callers keep a set.
    package func insert(_ filter: TopicFilter, member: Member) {
        let levels = filter.levels
        var node = root
        let endsWithHash = levels.last == "#"
        let walk = endsWithHash ? levels.dropLast() : levels[...]
        for level in walk {
            if level == "+" {
                if node.plus == nil { node.plus = Node() }
                node = node.plus!
            } else if let child = node.children[TopicLevel(level)] {
                node = child
            } else {
                let child = Node()
                node.children[TopicLevel(Substring(String(level)))] = child
                node = child
            }
        }
        if let groupName = filter.shareGroup {
            let key = GroupKey(name: groupName, pattern: filter.pattern)
            if let group = groupsByKey[key] {
                group.members.append(member)
            } else {
                let group = SharedGroup<Member>(name: groupName, filter: filter.pattern)
                group.members.append(member)
                groupsByKey[key] = group
                if endsWithHash { node.hashGroups.append(group) } else { node.groups.append(group) }
            }
        } else if endsWithHash {
            node.hashMembers.append(member)
        } else {
            node.members.append(member)
        }
        count += 1
    }

    /// Removes one stored (filter, member) pair; returns whether it was there. Empty branches are pruned.
    @discardableResult
    package func remove(_ filter: TopicFilter, member: Member) -> Bool {
        let levels = filter.levels
        let endsWithHash = levels.last == "#"
        let walk = endsWithHash ? Array(levels.dropLast()) : levels
        var path: [(Node, Substring)] = []
        var node = root
        for level in walk {
            let next: Node?
            if level == "+" { next = node.plus } else { next = node.children[TopicLevel(level)] }
            guard let next else { return false }
            path.append((node, level))
            node = next
        }
        var removed = false
        if let groupName = filter.shareGroup {
            let key = GroupKey(name: groupName, pattern: filter.pattern)
            guard let group = groupsByKey[key], let at = Self.position(of: member, in: group.members) else {
                return false
            }
            group.members.remove(at: at)
            removed = true
            if group.members.isEmpty {
                groupsByKey[key] = nil
                if endsWithHash {
                    node.hashGroups.removeAll { $0 === group }
                } else {
                    node.groups.removeAll { $0 === group }
                }
            }
        } else if endsWithHash {
            if let at = Self.position(of: member, in: node.hashMembers) {
                node.hashMembers.remove(at: at)
                removed = true
            }
        } else if let at = Self.position(of: member, in: node.members) {
            node.members.remove(at: at)
            removed = true
        }
        guard removed else { return false }
        count -= 1
        // Prune empty nodes from the leaf up.
        var child = node
        while let (parent, level) = path.popLast(), child.isEmpty {
            if level == "+" { parent.plus = nil } else { parent.children[TopicLevel(level)] = nil }
            child = parent
        }
        return true
    }

    /// Where `member` is in `members`, by identity. Read as the references' addresses: `firstIndex(where:)`
    /// over a generic array copied each element through its value witness (a retain and a release apiece),
    /// 6 % of the server's CPU while 3,000 subscribers of one topic churned (Benchmarks/analysis.md, "Churn").
    static func position(of member: Member, in members: [Member]) -> Int? {
        // `Member: AnyObject` is stored as one reference, the size of an ObjectIdentifier.
        precondition(MemoryLayout<Member>.stride == MemoryLayout<ObjectIdentifier>.stride)
        let target = ObjectIdentifier(member)
        return members.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: ObjectIdentifier.self) { $0.firstIndex(of: target) }
        }
    }

    /// Everything that matches `topic`: plain members, and shared groups (the caller picks one member).
    /// A member with overlapping filters appears once per matching filter.
    package func match(_ topic: Topic) -> SubscriptionMatch<Member> {
        var result = SubscriptionMatch<Member>()
        let levels = topic.levels
        let dollar = levels.first?.hasPrefix("$") ?? false
        collect(root, levels, 0, dollar, &result)
        return result
    }

    /// Whether some stored filter may match a topic that begins with the levels `prefix` and has more
    /// levels after them — "no" for sure when it says false. It walks only the prefix's branches, so a
    /// topic that never comes again (a JetStream acknowledgement's) can be turned away without a match.
    package func mayMatch(topicsUnder prefix: [Substring]) -> Bool {
        mayMatch(root, prefix, 0, prefix.first?.hasPrefix("$") ?? false)
    }

    private func mayMatch(_ node: Node, _ prefix: [Substring], _ index: Int, _ dollar: Bool) -> Bool {
        // [MQTT-4.7.2-1] as in `collect`: no wildcard in the first level matches a topic starting with '$'.
        let wildcardsAllowed = !(index == 0 && dollar)
        if wildcardsAllowed, !node.hashMembers.isEmpty || !node.hashGroups.isEmpty { return true }
        // Past the prefix, any filter going deeper matches some topic (empty branches are pruned); one
        // ending here matches the prefix itself only.
        if index == prefix.count { return !node.children.isEmpty || node.plus != nil }
        if let child = node.children[TopicLevel(prefix[index])], mayMatch(child, prefix, index + 1, dollar) {
            return true
        }
        if wildcardsAllowed, let plus = node.plus { return mayMatch(plus, prefix, index + 1, dollar) }
        return false
    }

    private func collect(
        _ node: Node, _ levels: [Substring], _ index: Int, _ dollar: Bool, _ result: inout SubscriptionMatch<Member>
    ) {
        // [MQTT-4.7.2-1] A wildcard in the first level does not match a topic starting with '$'.
        let wildcardsAllowed = !(index == 0 && dollar)
        if wildcardsAllowed {
            result.members.append(contentsOf: node.hashMembers)
            result.groups.append(contentsOf: node.hashGroups)
        }
        if index == levels.count {
            result.members.append(contentsOf: node.members)
            result.groups.append(contentsOf: node.groups)
            return
        }
        // A filter spelling out a last level here (`a/b/x`, `a/b/x/#`) routes `a/b/x` apart from `a/b/y`.
        if index == levels.count - 1, !node.children.isEmpty { result.namesLastLevel = true }
        if let child = node.children[TopicLevel(levels[index])] {
            collect(child, levels, index + 1, dollar, &result)
        }
        if wildcardsAllowed, let plus = node.plus {
            collect(plus, levels, index + 1, dollar, &result)
        }
    }
}

/// The result of one match: what to deliver to.
package struct SubscriptionMatch<Member: AnyObject> {
    package var members: [Member] = []
    package var groups: [SharedGroup<Member>] = []
    /// Whether some stored filter names the topic's last level literally (`collections/c/r1`, not
    /// `collections/c/+`): when none does, every topic that differs from this one only in its last level
    /// matches exactly the same (the bus shares one cached plan among them: `LoopShard`).
    package var namesLastLevel = false
    package init() {}
    package var isEmpty: Bool { members.isEmpty && groups.isEmpty }
}

/// A shared subscription group (`$share/<name>/<filter>`): each message goes to one member.
package final class SharedGroup<Member: AnyObject> {
    package let name: String
    package let filter: String
    /// Current members, in join order.
    package internal(set) var members: [Member] = []

    init(name: String, filter: String) {
        self.name = name
        self.filter = filter
    }
}
