package import BusCore

/// One subscription of one subscriber to one filter: the value stored in the subscription index.
///
/// Mutable state is confined to the subscriber's event loop (it is only read and written there).
package final class BusSubscription: @unchecked Sendable {
    package let filter: TopicFilter
    package let subscriber: any BusSubscriber
    package let subscriberID: String
    /// Index of the subscriber's loop shard.
    package let shardIndex: Int
    package let options: SubscriptionOptions
    /// The subscriber's counters slot, kept here so delivery needs no protocol call for it.
    let metricsSlot: ProtocolMetricsSlot
    /// Whether a plain publication reaches it without a message object (`BusSubscriber.deliverPlain`): its
    /// subscriber takes them and nothing about the subscription needs the message (sessions, records' view
    /// rules and content filters read it).
    package let takesPlainPublications: Bool
    /// False once unsubscribed; messages already in flight to it are then skipped.
    package var isActive = true
    /// While recovering from history: live messages at or below this offset were already sent from the
    /// log and are skipped, so nothing is delivered twice.
    package var skipThroughOffset: UInt64 = 0
    /// The subscriber's own index for this subscription (a slot in its table), so a delivery finds the
    /// protocol's per-subscription state without a dictionary lookup. Set by the subscriber on its loop
    /// right after subscribing, before any delivery can reach it.
    package var localIndex = 0

    init(
        filter: TopicFilter, subscriber: any BusSubscriber, subscriberID: String, shardIndex: Int,
        options: SubscriptionOptions
    ) {
        self.filter = filter
        self.subscriber = subscriber
        self.subscriberID = subscriberID
        self.shardIndex = shardIndex
        self.options = options
        self.metricsSlot = subscriber.metricsSlot
        self.takesPlainPublications =
            subscriber.takesPlainPublications && options.sessions == nil && options.viewer == nil
            && options.contentFilter == nil
    }

    /// A detached copy with other options, for a subscriber that folds several of its subscriptions into
    /// one delivery (MQTT's single copy for overlapping subscriptions). Not in the index.
    package func detached(options: SubscriptionOptions) -> BusSubscription {
        let copy = BusSubscription(
            filter: filter, subscriber: subscriber, subscriberID: subscriberID, shardIndex: shardIndex,
            options: options)
        copy.localIndex = localIndex
        return copy
    }
}
