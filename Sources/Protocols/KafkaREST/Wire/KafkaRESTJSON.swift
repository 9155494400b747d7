package import BusCore
package import NIOCore

/// Reading request bodies: JSON parse errors are 400, wrong shapes 422 (Jackson's two exceptions as
/// rest-utils maps them).
package enum KafkaRESTJSON {
    /// Most bytes of a request body parsed (the listener's body limit is the first bound).
    package static let maxBodyBytes = 16 << 20

    /// The body as a JSON object; an empty body is nil (several endpoints take none).
    package static func object(_ body: ByteBuffer) throws(KafkaRESTError) -> JSONValue? {
        guard body.readableBytes > 0 else { return nil }
        let value: JSONValue
        do {
            value = try body.withUnsafeReadableBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) }
        } catch {
            throw .badJSON("Unexpected JSON: \(error)")
        }
        guard case .object = value else { throw .unprocessable("The request body must be a JSON object") }
        return value
    }

    /// A member that must be a string when present.
    package static func string(_ object: JSONValue?, _ key: String) throws(KafkaRESTError) -> String? {
        guard let value = object?[key], value != .null else { return nil }
        guard let text = value.stringValue else { throw .unprocessable("\"\(key)\" must be a string") }
        return text
    }

    /// A member that must be an integer when present.
    package static func integer(_ object: JSONValue?, _ key: String) throws(KafkaRESTError) -> Int? {
        guard let value = object?[key], value != .null else { return nil }
        guard let number = value.intValue else { throw .unprocessable("\"\(key)\" must be an integer") }
        return number
    }

    /// A member that must be an array when present.
    package static func array(_ object: JSONValue?, _ key: String) throws(KafkaRESTError) -> [JSONValue]? {
        guard let value = object?[key], value != .null else { return nil }
        guard let values = value.arrayValue else { throw .unprocessable("\"\(key)\" must be an array") }
        return values
    }

    /// `value` written compactly.
    package static func text(_ value: JSONValue) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeJSONValue(value)
        return Array(buffer.readableBytesView)
    }
}

/// A topic and partition named in a consumer request (`partitions`, `offsets`).
package struct KafkaRESTTopicPartition: Sendable, Hashable, Comparable {
    package var topic: String
    package var partition: Int

    package init(topic: String, partition: Int) {
        self.topic = topic
        self.partition = partition
    }

    package static func < (left: Self, right: Self) -> Bool {
        (left.topic, left.partition) < (right.topic, right.partition)
    }

    /// `[{"topic":…,"partition":…}]` under `key` of the body (`partitions`); required.
    package static func list(_ object: JSONValue?, _ key: String) throws(KafkaRESTError) -> [KafkaRESTTopicPartition] {
        guard let items = try KafkaRESTJSON.array(object, key) else {
            throw .unprocessable("\"\(key)\" is required")
        }
        var result: [KafkaRESTTopicPartition] = []
        for item in items {
            guard let topic = try KafkaRESTJSON.string(item, "topic"),
                let partition = try KafkaRESTJSON.integer(item, "partition")
            else { throw .unprocessable("each of \"\(key)\" needs \"topic\" and \"partition\"") }
            result.append(KafkaRESTTopicPartition(topic: topic, partition: partition))
        }
        return result
    }

    /// `{"topic":…,"partition":…}`.
    package func write(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"topic\":")
        buffer.writeJSONString(topic)
        buffer.writeStaticString(",\"partition\":")
        buffer.writeDecimal(partition)
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}

/// A topic, partition and Kafka offset (`POST offsets`, `POST positions`).
package struct KafkaRESTPartitionOffset: Sendable, Hashable {
    package var topicPartition: KafkaRESTTopicPartition
    package var offset: Int

    package init(topicPartition: KafkaRESTTopicPartition, offset: Int) {
        self.topicPartition = topicPartition
        self.offset = offset
    }

    /// `[{"topic","partition","offset"}]` under `offsets`; nil when the member is absent.
    package static func list(_ object: JSONValue?) throws(KafkaRESTError) -> [KafkaRESTPartitionOffset]? {
        guard let items = try KafkaRESTJSON.array(object, "offsets") else { return nil }
        var result: [KafkaRESTPartitionOffset] = []
        for item in items {
            guard let topic = try KafkaRESTJSON.string(item, "topic"),
                let partition = try KafkaRESTJSON.integer(item, "partition"),
                let offset = try KafkaRESTJSON.integer(item, "offset")
            else { throw .unprocessable("each offset needs \"topic\", \"partition\" and \"offset\"") }
            guard offset >= 0 else { throw .unprocessable("\"offset\" must not be negative") }
            result.append(
                KafkaRESTPartitionOffset(
                    topicPartition: KafkaRESTTopicPartition(topic: topic, partition: partition), offset: offset))
        }
        return result
    }
}
