/// Kafka's range assignor (`RangeAssignor`, the consumer's default), as a pure function: for each topic,
/// its partitions are split into contiguous ranges over the members subscribed to it, sorted by member id;
/// the first `partitions % members` members get one more. The frontend runs it whenever the group's
/// membership or subscriptions change (join, `DELETE`, expiry, a new subscription), which is its rebalance.
package enum KafkaRESTAssignor {
    /// One member of a group: its id and the topics it subscribed to (resolved patterns included).
    package struct Member: Sendable, Equatable {
        package var id: String
        package var topics: Set<String>

        package init(id: String, topics: Set<String>) {
            self.id = id
            self.topics = topics
        }
    }

    /// The partitions of each member; `partitionCounts` has every topic that exists (others are skipped).
    package static func range(
        members: [Member], partitionCounts: [String: Int]
    ) -> [String: [KafkaRESTTopicPartition]] {
        var result: [String: [KafkaRESTTopicPartition]] = [:]
        for member in members { result[member.id] = [] }
        let topics = Set(members.flatMap(\.topics)).sorted()
        for topic in topics {
            guard let count = partitionCounts[topic], count > 0 else { continue }
            let subscribed = members.filter { $0.topics.contains(topic) }.map(\.id).sorted()
            let perMember = count / subscribed.count
            let extra = count % subscribed.count
            for (index, id) in subscribed.enumerated() {
                let start = index * perMember + min(index, extra)
                let length = perMember + (index < extra ? 1 : 0)
                for partition in start..<(start + length) {
                    result[id, default: []].append(KafkaRESTTopicPartition(topic: topic, partition: partition))
                }
            }
        }
        return result
    }
}
