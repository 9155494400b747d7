/// Kafka topic names ⇄ bus topics (DESIGN.md §2, docs/topics.md): a Kafka topic is the stream of the
/// same name, and that stream captures the bus topic spelt with `/` for `.` — `orders.eu` captures
/// `orders/eu` — the rule NATS subjects follow, so a NATS publish on `orders.eu`, an MQTT publish on
/// `orders/eu` and a Kafka REST produce to `orders.eu` are one topic. A Kafka name has only
/// `[A-Za-z0-9._-]`, none of which a topic level escapes, so the mapping is a plain substitution.
package enum KafkaRESTTopicName {
    /// Kafka's longest topic name.
    package static let maxLength = 249

    /// Whether `name` is a legal Kafka topic name (`[A-Za-z0-9._-]{1,249}`, not `.` or `..`).
    package static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxLength, name != ".", name != ".." else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }

    /// The bus topic a Kafka topic's records are published on (and its stream captures).
    package static func busTopic(forKafkaTopic name: String) -> String {
        String(decoding: name.utf8.map { $0 == UInt8(ascii: ".") ? UInt8(ascii: "/") : $0 }, as: UTF8.self)
    }
}
