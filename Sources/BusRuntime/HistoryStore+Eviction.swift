import Atomics
package import BusCore
import NIOConcurrencyHelpers

extension HistoryStore {
    /// What one eviction pass did.
    package struct Eviction: Sendable, Equatable {
        /// Logs evicted in this pass.
        package var evicted = 0
        /// Memory the logs hold after it, estimated.
        package var estimatedBytes = 0
    }

    /// Evicts the logs nobody needs: a plain log whose topic has no subscriber and saw no append, read,
    /// subscribe or unsubscribe within its age (a log without an age bound is never idle this way); then,
    /// while the logs hold more than `maxBytes`, the least recently used plain logs whose topic has no
    /// subscriber. Durable logs are never evicted. A topic whose log was evicted gets a new log in a new
    /// epoch when it is next used, so a client resuming from the old epoch is told it could not recover —
    /// exactly as after a restart — and is never resumed into another log.
    ///
    /// `isSubscribed(topic)` says whether a subscription names the topic itself (the subscriptions whose
    /// recovery and skip offsets come from its log; wildcard and shared ones read none); `invalidate` makes
    /// every shard's cached plans stale. Both are called with the store locked: lock order store → log →
    /// registry (docs/concurrency.md). A subscribe registers before it looks its log up, so either this
    /// pass sees the subscription (and keeps the log) or the subscribe finds the log gone and makes a new one.
    package func evictIdle(
        now: UInt64, isSubscribed: (Topic) -> Bool, invalidate: () -> Void
    ) -> Eviction {
        logs.withLockedValue { logs in
            var total = 0
            var candidates: [(box: HistoryLogBox, bytes: Int, lastActivity: UInt64, expired: Bool)] = []
            for box in logs.values {
                let usage = box.usage(now: now)
                total += usage.bytes
                if !box.durable { candidates.append((box, usage.bytes, usage.lastActivity, usage.expired)) }
            }
            var evicted: [HistoryLogBox] = []
            if total > maxBytes || candidates.contains(where: \.expired) {
                // Least recently used first, so a memory shortage takes the coldest logs.
                candidates.sort { $0.lastActivity < $1.lastActivity }
                for candidate in candidates where candidate.expired || total > maxBytes {
                    if isSubscribed(candidate.box.topic) { continue }
                    evicted.append(candidate.box)
                    total -= candidate.bytes
                }
            }
            if !evicted.isEmpty {
                // Plans made stale before a log is marked: a publisher that finds its log evicted looks
                // the topic up again and must not get the same stale plan back.
                invalidate()
                for box in evicted {
                    logs[box.topic] = nil
                    box.markEvicted()
                }
                evictions.wrappingIncrement(by: evicted.count, ordering: .relaxed)
            }
            overBudget.store(total > maxBytes, ordering: .relaxed)
            lastEstimate.store(total, ordering: .relaxed)
            return Eviction(evicted: evicted.count, estimatedBytes: total)
        }
    }

    /// A subscriber of `topic` left: its log (if any) counts as used now, so a client that drops off can
    /// still recover for the log's age.
    package func touch(_ topic: Topic, now: UInt64) {
        logs.withLockedValue { $0[topic] }?.touch(now: now)
    }

    /// Memory the logs held at the last eviction pass, estimated, and logs evicted since start.
    package var estimatedBytes: Int { lastEstimate.load(ordering: .relaxed) }
    package var evictedCount: Int { evictions.load(ordering: .relaxed) }
}
