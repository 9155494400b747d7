import BusCore
import BusRuntime
import KafkaRESTWire
import NIOConcurrencyHelpers
import NIOCore

/// Every consumer instance, by group, behind one lock that is held alone: what the stream registry knows
/// (partition counts, committed offsets, partition ends) is asked before or after it, never under it.
///
/// A group's assignment is a pure function of its members' targets and the streams that exist
/// (`KafkaRESTAssignor.range`), computed whenever an instance asks: a member joining, leaving (DELETE),
/// expiring or subscribing anew is a rebalance at the next request of each member, and a topic created
/// later that a pattern matches is picked up the same way. A partition an instance no longer holds loses
/// its position there; one it gains starts at the group's committed offset, else at `auto.offset.reset`.
package final class KafkaRESTConsumerGroups: Sendable {
    private let groups = NIOLockedValueBox<[String: [String: KafkaRESTConsumerInstance]]>([:])
    private let streams: StreamRegistry
    private let maxInstances: Int

    /// Claims of groups among instances sharing the store (nil: this instance is the store's only user).
    private let claims: InstanceClaims?

    init(streams: StreamRegistry, maxInstances: Int, claims: InstanceClaims? = nil) {
        self.streams = streams
        self.maxInstances = maxInstances
        self.claims = claims
    }

    /// The kind of claim a consumer group is served under when several instances share the store.
    static let claimKind = "kafka-group"
    /// How long a consumer instance's creation waits for a group another instance serves. That instance
    /// lets go only when its last member goes (or it dies), never on request: a short wait.
    static let claimTimeout = TimeAmount.milliseconds(500)

    /// The answer to a consumer instance's creation while another instance serves the group: the
    /// proxy's 40903 (409) — the state of the group forbids it here; create it on that instance.
    static func servedElsewhere(_ group: String) -> KafkaRESTError {
        .illegalState(
            "consumer group '\(group)' is served by another instance sharing the database; create its consumer "
                + "instances there")
    }

    /// How many instances exist (all groups).
    package var count: Int { groups.withLockedValue { $0.values.reduce(0) { $0 + $1.count } } }

    func create(
        group: String, id: String, configuration: KafkaRESTConsumerConfiguration, owner: String?, now: UInt64
    ) throws(KafkaRESTError) {
        let outcome: KafkaRESTError? = groups.withLockedValue { groups in
            if groups[group]?[id] != nil { return .consumerAlreadyExists }
            if groups.values.reduce(0, { $0 + $1.count }) >= maxInstances {
                return .kafkaError("too many consumer instances (kafka_rest.max_consumer_instances)")
            }
            groups[group, default: [:]][id] = KafkaRESTConsumerInstance(
                id: id, group: group, configuration: configuration, owner: owner, lastUsed: now)
            return nil
        }
        if let outcome { throw outcome }
    }

    func delete(group: String, id: String, owner: String?) throws(KafkaRESTError) {
        let found: Bool = groups.withLockedValue { groups in
            guard groups[group]?[id]?.owner == owner else { return false }
            groups[group]?[id] = nil
            if groups[group]?.isEmpty == true { groups[group] = nil }
            return true
        }
        if !found { throw .consumerInstanceNotFound }
        claims?.release(Self.claimKind, group)
    }

    /// Runs `body` on the instance (touched: its idle clock restarts); 40403 when it does not exist or
    /// belongs to another user.
    func with<Value>(
        group: String, id: String, owner: String?, now: UInt64,
        _ body: (inout KafkaRESTConsumerInstance) throws(KafkaRESTError) -> Value
    ) throws(KafkaRESTError) -> Value {
        let outcome: Result<Value, KafkaRESTError> = groups.withLockedValue { groups in
            guard var instance = groups[group]?[id], instance.owner == owner else {
                return .failure(.consumerInstanceNotFound)
            }
            instance.lastUsed = now
            defer { groups[group]?[id] = instance }
            do throws(KafkaRESTError) { return .success(try body(&instance)) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    /// The partitions the instance holds now, with its positions brought in line (dropped where it lost
    /// a partition, started where it gained one).
    func synchronize(group: String, id: String, owner: String?, now: UInt64) throws(KafkaRESTError)
        -> [KafkaRESTTopicPartition: UInt64]
    {
        // The registry is asked before and after the lock, never under it (docs/concurrency.md, lock order).
        var counts: [String: Int] = [:]
        for box in streams.list() { counts[box.name] = box.partitions.count }
        let gained: (Set<KafkaRESTTopicPartition>, KafkaRESTConsumerConfiguration.OffsetReset)? =
            groups.withLockedValue { groups in
                guard let members = groups[group], var instance = members[id], instance.owner == owner else {
                    return nil
                }
                instance.lastUsed = now
                let held = Set(Self.assignment(of: instance, in: members, partitionCounts: counts))
                for partition in instance.positions.keys where !held.contains(partition) {
                    instance.positions[partition] = nil
                    instance.consumedSinceCommit.remove(partition)
                }
                groups[group]?[id] = instance
                return (held.filter { instance.positions[$0] == nil }, instance.configuration.autoOffsetReset)
            }
        guard let (partitions, reset) = gained else { throw .consumerInstanceNotFound }
        var starts: [KafkaRESTTopicPartition: UInt64] = [:]
        for partition in partitions { starts[partition] = start(partition, group: group, reset: reset) }
        let positions: [KafkaRESTTopicPartition: UInt64]? = groups.withLockedValue { groups in
            guard var instance = groups[group]?[id] else { return nil }
            for (partition, offset) in starts where instance.positions[partition] == nil {
                instance.positions[partition] = offset
            }
            groups[group]?[id] = instance
            return instance.positions
        }
        guard let positions else { throw .consumerInstanceNotFound }
        return positions
    }

    /// Deletes instances idle since before `cutoff` (their groups rebalance at their next requests).
    func expire(idleSince cutoff: UInt64) -> Int {
        let expired: [String] = groups.withLockedValue { groups in
            var expired: [String] = []
            for (group, members) in groups {
                let kept = members.filter { $0.value.lastUsed >= cutoff }
                expired += Array(repeating: group, count: members.count - kept.count)
                groups[group] = kept.isEmpty ? nil : kept
            }
            return expired
        }
        for group in expired { claims?.release(Self.claimKind, group) }
        return expired.count
    }

    // MARK: - Assignment

    /// The partitions `instance` holds among `members` (its group), given every topic's partition count.
    static func assignment(
        of instance: KafkaRESTConsumerInstance, in members: [String: KafkaRESTConsumerInstance],
        partitionCounts counts: [String: Int]
    ) -> [KafkaRESTTopicPartition] {
        switch instance.target {
        case .none: return []
        case .assigned(let partitions): return partitions
        case .topics, .pattern:
            let names = Array(counts.keys)
            let subscribed = members.values.compactMap { member -> KafkaRESTAssignor.Member? in
                topics(of: member.target, among: names).map { KafkaRESTAssignor.Member(id: member.id, topics: $0) }
            }
            return KafkaRESTAssignor.range(members: subscribed, partitionCounts: counts)[instance.id] ?? []
        }
    }

    /// The topics a subscription covers among `names`; nil when it is not a subscription.
    static func topics(of target: KafkaRESTConsumerInstance.Target, among names: [String]) -> Set<String>? {
        switch target {
        case .none, .assigned: return nil
        case .topics(let topics): return Set(topics)
        case .pattern(let pattern):
            guard let regex = try? Regex(pattern) else { return [] }
            return Set(names.filter { (try? regex.wholeMatch(in: $0)) != nil })
        }
    }

    /// Where a newly held partition starts: the group's committed offset in the current epoch, else the
    /// reset policy's end.
    private func start(
        _ partition: KafkaRESTTopicPartition, group: String, reset: KafkaRESTConsumerConfiguration.OffsetReset
    ) -> UInt64 {
        if let committed = try? streams.committed(
            group: group, stream: partition.topic, partition: partition.partition),
            committed.isCurrent
        {
            return committed.offset
        }
        guard let box = streams.stream(named: partition.topic), box.partitions.indices.contains(partition.partition)
        else { return 1 }
        let info = box.partitions[partition.partition].info
        switch reset {
        case .earliest: return info.firstOffset
        case .latest: return info.lastOffset + 1
        }
    }
}
