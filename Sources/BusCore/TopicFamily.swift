/// A topic's levels above its last one (`collections/tasks` of `collections/tasks/r1`): the key under
/// which the bus caches one match for all the topics that differ only in their last level, when no
/// filter names that level (a record per topic, a reply inbox per request). Keyed by bytes, like
/// `Topic`; holds a slice of the topic's own string, so making one allocates nothing.
package struct TopicFamily: Hashable, Sendable {
    /// The levels above the last one, without the separating `/`.
    package let parent: Substring

    /// The family of `topic`; nil for a one-level topic (it has no parent, and its first level is the one
    /// the `$` rule looks at: [MQTT-4.7.2-1]).
    package init?(_ topic: Topic) {
        let utf8 = topic.name.utf8
        guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        // Sliced on the byte, not on Characters (as `Topic.splitLevels`).
        parent = Substring(utf8[..<slash])
    }

    package static func == (lhs: TopicFamily, rhs: TopicFamily) -> Bool { TopicBytes.equal(lhs.parent, rhs.parent) }
    package func hash(into hasher: inout Hasher) { TopicBytes.hash(parent, into: &hasher) }
}
