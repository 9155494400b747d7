package import FrontendKit

/// Settings of the Kafka REST Proxy frontend (config section `kafka_rest`; every key is listed by
/// `serve --help` and docs/operations.md from `settings` below).
package struct KafkaRESTConfiguration: FrontendSettings {
    /// Whether producing to a topic that does not exist creates it (Kafka's `auto.create.topics.enable`,
    /// true by default there too).
    package var autoCreateTopics = true
    /// Partitions of a topic created by a produce (Kafka's `num.partitions`, 1).
    package var defaultPartitions = 1
    /// A consumer instance not used for this long is deleted and its group rebalanced (the proxy's
    /// `consumer.instance.timeout.ms`, 300000).
    package var consumerInstanceTimeoutMilliseconds = 300_000
    /// How long `GET records` waits for records when neither the request (`timeout`) nor the instance
    /// (`consumer.request.timeout.ms`) says (the proxy's `consumer.request.timeout.ms`, 1000).
    package var consumerRequestTimeoutMilliseconds = 1_000
    /// The longest hold of `GET records` whatever the request asks: each held request holds a connection.
    package var maxPollTimeoutMilliseconds = 60_000
    /// Most bytes one `GET records` answers with when the request names no `max_bytes` (the proxy's
    /// `consumer.request.max.bytes`, 64 MiB).
    package var consumerRequestMaxBytes = 64 << 20
    /// Consumer instances the server keeps at once (each holds positions per partition).
    package var maxConsumerInstances = 10_000

    package init() {}

    package static let settings: [FrontendSetting<KafkaRESTConfiguration>] = [
        .boolean(
            "auto_create_topics", \.autoCreateTopics,
            help: "Producing to a missing topic creates its stream (Kafka's auto.create.topics.enable)."),
        .integer(
            "default_partitions", \.defaultPartitions, minimum: 1,
            help: "Partitions of a topic created by a produce (Kafka's num.partitions)."),
        .integer(
            "consumer_instance_timeout_ms", \.consumerInstanceTimeoutMilliseconds, minimum: 1,
            help: "An idle consumer instance is deleted and its group rebalanced after this many ms."),
        .integer(
            "consumer_request_timeout_ms", \.consumerRequestTimeoutMilliseconds,
            help: "How long GET records waits for records when the request names no timeout (ms)."),
        .integer(
            "max_poll_timeout_ms", \.maxPollTimeoutMilliseconds, minimum: 1,
            help: "Longest hold of GET records, whatever it asks (each held request holds a connection)."),
        .integer(
            "consumer_request_max_bytes", \.consumerRequestMaxBytes, minimum: 1,
            help: "Most bytes one GET records answers with when it names no max_bytes."),
        .integer(
            "max_consumer_instances", \.maxConsumerInstances, minimum: 1,
            help: "Consumer instances kept at once; creating one more answers 50002."),
    ]

    package func validate() throws(FrontendSettingError) {
        if defaultPartitions > 1024 { throw FrontendSettingError("kafka_rest.default_partitions is at most 1024") }
    }
}
