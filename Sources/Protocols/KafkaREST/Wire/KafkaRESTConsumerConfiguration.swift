package import BusCore

/// The body of `POST /consumers/{group}`: the instance's name, embedded format and the consumer settings
/// the proxy passes to its `KafkaConsumer`. Values may be strings (`"true"`, `"1000"`), as the proxy's
/// examples send them, or JSON booleans and numbers.
package struct KafkaRESTConsumerConfiguration: Sendable, Equatable {
    /// Where a consumer starts in a partition its group has no committed offset for.
    package enum OffsetReset: String, Sendable {
        case earliest
        case latest
    }

    /// The instance id; nil: the proxy makes one.
    package var name: String?
    package var format: KafkaRESTEmbeddedFormat = .binary
    /// Kafka's default is `latest`.
    package var autoOffsetReset: OffsetReset = .latest
    /// Kafka's default is true: what a `GET records` hands out is committed.
    package var autoCommit = true
    /// Bytes a fetch waits for before answering early; ≤ 0: any record answers at once.
    package var fetchMinBytes = -1
    /// Longest hold of `GET records` in ms; nil: the proxy's `consumer.request.timeout.ms`.
    package var requestTimeoutMilliseconds: Int?

    package init() {}

    /// Parses the body (which may be empty); 42204 for a setting of the wrong value.
    package init(body: JSONValue?) throws(KafkaRESTError) {
        name = try KafkaRESTJSON.string(body, "name")
        if let name, name.isEmpty || name.contains("/") {
            throw .invalidConsumerConfig("name must be non-empty and without '/'")
        }
        if let text = try KafkaRESTJSON.string(body, "format") {
            guard let format = KafkaRESTEmbeddedFormat(rawValue: text.lowercased()) else {
                throw .invalidConsumerConfig("format must be one of binary, json, avro, jsonschema, protobuf")
            }
            self.format = format
        }
        if let text = try KafkaRESTJSON.string(body, "auto.offset.reset") {
            guard let reset = OffsetReset(rawValue: text.lowercased()) else {
                throw .invalidConsumerConfig("auto.offset.reset must be earliest or latest")
            }
            autoOffsetReset = reset
        }
        if let value = body?["auto.commit.enable"], value != .null {
            switch value {
            case .bool(let flag): autoCommit = flag
            case .string(let text) where text.lowercased() == "true": autoCommit = true
            case .string(let text) where text.lowercased() == "false": autoCommit = false
            default: throw .invalidConsumerConfig("auto.commit.enable must be true or false")
            }
        }
        if let number = try Self.number(body, "fetch.min.bytes") { fetchMinBytes = number }
        if let number = try Self.number(body, "consumer.request.timeout.ms") {
            guard number >= 0 else { throw .invalidConsumerConfig("consumer.request.timeout.ms must not be negative") }
            requestTimeoutMilliseconds = number
        }
    }

    private static func number(_ body: JSONValue?, _ key: String) throws(KafkaRESTError) -> Int? {
        guard let value = body?[key], value != .null else { return nil }
        if let number = value.intValue { return number }
        if let text = value.stringValue, let number = Int(text) { return number }
        throw .invalidConsumerConfig("\(key) must be an integer")
    }
}
