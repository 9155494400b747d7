/// An ordered access-control list (EMQX's ACL model): each rule allows or denies publishing, subscribing
/// or both for the topics its filter matches, and the first rule that applies decides. Rules no rule
/// decides fall through to the allow lists of `TopicPermissions`.
///
/// For a subscription the rule's filter must cover the requested one to decide (`covers`): a deny rule
/// `secret/#` refuses `secret/a` and `secret/#`. A broader request (`#`) is not refused by it, but the
/// subscription never receives a topic a deny rule matches: `permitsReading` is asked per delivery for
/// subscriptions made by a client with deny rules (`SubscriptionOptions.readACL`).
package struct TopicACL: Sendable, Hashable {
    package struct Rule: Sendable, Hashable {
        package var allow: Bool
        package var publish: Bool
        package var subscribe: Bool
        package var filter: TopicFilter

        package init(allow: Bool, publish: Bool, subscribe: Bool, filter: TopicFilter) {
            self.allow = allow
            self.publish = publish
            self.subscribe = subscribe
            self.filter = filter
        }
    }

    package var rules: [Rule]

    package init(_ rules: [Rule] = []) {
        self.rules = rules
    }

    package var isEmpty: Bool { rules.isEmpty }

    /// Whether some rule denies reading: only then are deliveries checked.
    package var deniesReading: Bool { rules.contains { !$0.allow && $0.subscribe } }

    /// The first publish rule matching `topic`: allow or deny; nil when none decides.
    package func decidePublish(_ topic: Topic) -> Bool? {
        for rule in rules where rule.publish && rule.filter.matches(topic) { return rule.allow }
        return nil
    }

    /// The first subscribe rule matching `topic` (history, presence, a delivery): allow or deny.
    package func decideRead(_ topic: Topic) -> Bool? {
        for rule in rules where rule.subscribe && rule.filter.matches(topic) { return rule.allow }
        return nil
    }

    /// The first subscribe rule whose filter covers `filter`: allow or deny.
    package func decideSubscribe(_ filter: TopicFilter) -> Bool? {
        let requested = filter.levels
        for rule in rules where rule.subscribe && TopicPermissions.covers(rule.filter.levels, requested) {
            return rule.allow
        }
        return nil
    }

    /// Whether a delivery on `topic` may reach the client (no deny rule reached first).
    @inlinable
    package func permitsReading(_ topic: Topic) -> Bool {
        decideRead(topic) ?? true
    }
}
