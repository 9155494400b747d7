import KafkaRESTWire

/// One consumer instance of a group (`POST /consumers/{group}`): its settings, what it follows and where
/// it is in each partition it holds. Values, kept in `KafkaRESTConsumerGroups`.
struct KafkaRESTConsumerInstance: Sendable {
    /// What the instance follows: topics it subscribed to (the group balances their partitions over its
    /// subscribed members) or partitions it assigned itself (outside any balancing); never both.
    enum Target: Sendable, Equatable {
        case none
        case topics([String])
        /// A regular expression topic names must match entirely (Kafka's `Pattern.matches`).
        case pattern(String)
        case assigned([KafkaRESTTopicPartition])
    }

    let id: String
    let group: String
    let configuration: KafkaRESTConsumerConfiguration
    /// The user that created it (nil: anonymous); other users are told it does not exist.
    let owner: String?
    var target: Target = .none
    /// The next stream offset to read in each partition it holds (stream offsets: Kafka's + 1).
    var positions: [KafkaRESTTopicPartition: UInt64] = [:]
    /// Positions handed out and not committed yet (for `POST offsets` with no body and auto-commit).
    var consumedSinceCommit: Set<KafkaRESTTopicPartition> = []
    /// Monotonic nanoseconds of its last request (expiry).
    var lastUsed: UInt64

    var isSubscribed: Bool {
        switch target {
        case .topics, .pattern: true
        case .none, .assigned: false
        }
    }
}
