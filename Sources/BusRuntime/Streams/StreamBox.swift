package import BusCore
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// One stream: its configuration (limits and filters change, the partition count and storage do not)
/// and its partitions, each behind its own lock.
package final class StreamBox: Sendable {
    package let name: String
    package let partitions: [StreamPartitionBox]
    package let storage: StreamStorage
    private let current: NIOLockedValueBox<StreamConfiguration>

    init(configuration: StreamConfiguration, partitions: [StreamPartitionBox]) {
        self.name = configuration.name
        self.storage = configuration.storage
        self.partitions = partitions
        self.current = NIOLockedValueBox(configuration)
    }

    package var configuration: StreamConfiguration {
        get { current.withLockedValue { $0 } }
    }

    func setConfiguration(_ configuration: StreamConfiguration) {
        current.withLockedValue { $0 = configuration }
    }

    package var info: StreamInfo {
        StreamInfo(configuration: configuration, partitions: partitions.map(\.info))
    }

    /// The partition a record goes to: `placement.partition` when given; else Kafka's murmur2 of the key
    /// (so a key lands where a Kafka producer would put it); else murmur2 of the subject, so one subject's
    /// records stay in order in one partition (a stable hash: Swift's `hashValue` changes per process); a
    /// stream of one partition puts everything in partition 0. nil: the given partition does not exist.
    func partition(for topic: Topic, key: [UInt8]?, given: Int?) -> Int? {
        let count = partitions.count
        if let given { return (0..<count).contains(given) ? given : nil }
        if count == 1 { return 0 }
        if let key { return KafkaPartitioner.partition(forKey: key, count: count) }
        return KafkaPartitioner.partition(forKey: topic.name.utf8, count: count)
    }
}
