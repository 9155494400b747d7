import Atomics
package import BusCore
import NIOConcurrencyHelpers

/// The bus's one subscription index, behind a lock taken on subscribe/unsubscribe and on a shard's
/// match-cache miss — never per delivered message. Every change bumps `generation`, which shards read
/// (one atomic load per publish) to know their cached matches are stale. See docs/concurrency.md.
package final class SubscriptionRegistry: Sendable {
    private struct State: @unchecked Sendable {  // only touched under the lock
        var index = SubscriptionIndex<BusSubscription>()
        /// Subscriber counts per filter as written, for `/api/channels`.
        var counts: [String: Int] = [:]
    }

    private let state = NIOLockedValueBox(State())
    /// Unmanaged so that a shard can keep the pointer and load it with a plain load (a `ManagedAtomic`
    /// costs a retain, a release and a call per read there, twice per publish). Lives as long as the
    /// registry, which the bus keeps as long as its shards.
    private let generationCounter = UnsafeAtomic<UInt64>.create(1)

    package init() {}

    deinit { generationCounter.destroy() }

    package var generation: UInt64 { generationCounter.load(ordering: .acquiring) }

    /// The generation counter itself, for the shards (they must not outlive the registry).
    var generationAtomic: UnsafeAtomic<UInt64> { generationCounter }

    package func insert(_ subscription: BusSubscription) {
        state.withLockedValue {
            $0.index.insert(subscription.filter, member: subscription)
            $0.counts[subscription.filter.text, default: 0] += 1
        }
        generationCounter.wrappingIncrement(ordering: .releasing)
    }

    @discardableResult
    package func remove(_ subscription: BusSubscription) -> Bool {
        let removed = state.withLockedValue {
            guard $0.index.remove(subscription.filter, member: subscription) else { return false }
            let key = subscription.filter.text
            if let count = $0.counts[key], count > 1 { $0.counts[key] = count - 1 } else { $0.counts[key] = nil }
            return true
        }
        if removed { generationCounter.wrappingIncrement(ordering: .releasing) }
        return removed
    }

    /// Makes every shard's cached matches stale without a subscription change (a stream was created,
    /// deleted or given other filters: plans cache the streams a topic feeds too).
    package func invalidate() {
        generationCounter.wrappingIncrement(ordering: .releasing)
    }

    /// Puts `new` in place of `old` in one locked step, so every publish routes to exactly one of them.
    package func replace(_ old: BusSubscription, with new: BusSubscription) {
        state.withLockedValue {
            if !$0.index.remove(old.filter, member: old) { $0.counts[new.filter.text, default: 0] += 1 }
            $0.index.insert(new.filter, member: new)
        }
        generationCounter.wrappingIncrement(ordering: .releasing)
    }

    /// What a topic matches, copied out under the lock (shared groups' member lists change under it).
    package struct Snapshot {
        package var members: [BusSubscription]
        /// Each matching shared group's current members.
        package var groups: [[BusSubscription]]
        /// Whether a filter names the topic's last level (`SubscriptionMatch.namesLastLevel`).
        package var namesLastLevel = false
    }

    /// Matches under the lock; the caller caches the result against `generation` read *before* the call.
    package func match(_ topic: Topic) -> Snapshot {
        state.withLockedValue {
            let match = $0.index.match(topic)
            return Snapshot(
                members: match.members, groups: match.groups.map(\.members), namesLastLevel: match.namesLastLevel)
        }
    }

    /// Whether a subscription may match a topic under `prefix` (`SubscriptionIndex.mayMatch(topicsUnder:)`).
    package func mayMatch(topicsUnder prefix: [Substring]) -> Bool {
        state.withLockedValue { $0.index.mayMatch(topicsUnder: prefix) }
    }

    /// Whether a subscription names `topic` itself (not through a wildcard, not shared): those are the
    /// subscriptions whose recovery and skip offsets come from the topic's log.
    package func namesTopic(_ topic: Topic) -> Bool {
        state.withLockedValue {
            $0.index.match(topic).members.contains { !$0.filter.hasWildcards && $0.filter.shareGroup == nil }
        }
    }

    /// Active filters with their subscriber counts.
    package func channelCounts() -> [String: Int] {
        state.withLockedValue { $0.counts }
    }

    package var count: Int { state.withLockedValue { $0.index.count } }

    /// Active filters and their subscriber counts, parsed (what an engine attached late is told).
    package func filterCounts() -> [(TopicFilter, Int)] {
        channelCounts().compactMap { text, count in (try? TopicFilter(text)).map { ($0, count) } }
    }
}
