package import BusCore

/// One connection's subscriptions by sid (a sub-machine of `NATSSessionStateMachine`): the sid rules of
/// SUB and UNSUB, the subscription limit, subject and permission checks, and auto-unsubscribe. It knows
/// sids and limits only; the handler keeps the bus subscriptions they stand for and runs the actions.
package struct NATSSubscriptionsStateMachine: Sendable {
    /// What to do with a SUB.
    package enum SubscribeAction: Sendable, Hashable {
        /// Subscribe `sid` with `filter` (the subject mapped to a bus filter, queue group included).
        case subscribe(TopicFilter)
        /// nats-server: a SUB with a sid already in use is a no-op.
        case alreadySubscribed
        /// Refused (the connection stays).
        case refuse(NATSProtocolError)
    }

    /// What to do with an UNSUB.
    package enum UnsubscribeAction: Sendable, Hashable {
        /// End the subscription now.
        case unsubscribe
        /// End it once `maxMessages` have been delivered in total.
        case limitDeliveries(maxMessages: Int)
        /// nats-server: an unknown sid is a no-op.
        case unknownSID
    }

    /// A subscription as this machine knows it: its delivery limit, once UNSUB set one.
    private struct Entry: Sendable {
        var maxMessages: Int?
    }

    private var entries: [String: Entry] = [:]
    private let maxSubscriptions: Int
    private let topicLimits: TopicLimits

    /// `maxSubscriptions` 0 is unlimited (`max_subscriptions`).
    package init(maxSubscriptions: Int, topicLimits: TopicLimits) {
        self.maxSubscriptions = maxSubscriptions
        self.topicLimits = topicLimits
    }

    /// How many subscriptions are open.
    package var count: Int { entries.count }

    /// `SUB <subject> [queue] <sid>` from a client allowed `permissions`.
    package mutating func subscribeReceived(
        subject: String, queue: String?, sid: String, permissions: TopicPermissions
    ) -> SubscribeAction {
        if entries[sid] != nil { return .alreadySubscribed }
        // nats-server: -ERR 'maximum subscriptions exceeded', the connection stays.
        if maxSubscriptions > 0 && entries.count >= maxSubscriptions { return .refuse(.maxSubscriptionsExceeded) }
        guard let text = try? NATSSubjectMapping.filterText(forSubject: subject, queue: queue),
            let filter = try? TopicFilter(text, limits: topicLimits)
        else {
            // nats-server: -ERR 'Invalid Subject', the connection stays.
            return .refuse(.invalidSubject)
        }
        guard permissions.maySubscribe(filter) else {
            return .refuse(.subscriptionPermissionsViolation(subject, queue: queue))
        }
        entries[sid] = Entry()
        return .subscribe(filter)
    }

    /// `UNSUB <sid> [max]`; `delivered` is how many messages the subscription has delivered so far.
    package mutating func unsubscribeReceived(sid: String, maxMessages: Int?, delivered: Int) -> UnsubscribeAction {
        guard entries[sid] != nil else { return .unknownSID }
        // nats-server: `max` counts every message of the subscription, those before the UNSUB too; one
        // already reached ends it at once.
        if let maxMessages, maxMessages > delivered {
            entries[sid]!.maxMessages = maxMessages
            return .limitDeliveries(maxMessages: maxMessages)
        }
        entries[sid] = nil
        return .unsubscribe
    }

    /// The subscription `sid` delivered the last message its UNSUB allowed: it ends.
    package mutating func deliveryLimitReached(sid: String) {
        guard let entry = entries[sid], entry.maxMessages != nil else {
            preconditionFailure("delivery limit reached for sid \(sid), which has none (\(entries.count) open)")
        }
        entries[sid] = nil
    }

    /// The connection ended: nothing is subscribed any more.
    package mutating func removeAll() { entries.removeAll() }
}
