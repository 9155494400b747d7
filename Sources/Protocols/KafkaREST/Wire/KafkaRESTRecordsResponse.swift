package import BusCore
package import NIOCore

/// One record handed out by `GET records`.
package struct KafkaRESTConsumedRecord: Sendable {
    /// A key or value as it is written: bytes (binary: base64; json: their JSON text) or, for the schema
    /// formats, the JSON value read through the schema.
    package enum Member: Sendable, Equatable {
        case bytes([UInt8]?)
        case json(JSONValue?)
        /// Bytes as the stream keeps them (a record's payload, written from its buffer: no copy).
        case payload(ByteBuffer)
    }

    package var topic: String
    package var partition: Int
    /// The Kafka offset (the stream's offset − 1: Kafka counts from 0).
    package var offset: Int
    package var key: Member
    package var value: Member

    package init(topic: String, partition: Int, offset: Int, key: Member, value: Member) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
    }
}

/// `[{"topic","key","value","partition","offset"}]` in the instance's embedded format.
package enum KafkaRESTRecordsResponse {
    package static func write(
        _ records: [KafkaRESTConsumedRecord], format: KafkaRESTEmbeddedFormat, to buffer: inout ByteBuffer
    ) {
        // Room for the whole answer at once (a fetch can hand out 64 MiB): growing it by doubling copied
        // it again and again, each time into freshly mapped memory.
        buffer.reserveCapacity(buffer.writerIndex + estimatedBytes(records, format: format))
        buffer.writeInteger(UInt8(ascii: "["))
        for (index, record) in records.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeStaticString("{\"topic\":")
            buffer.writeJSONString(record.topic)
            buffer.writeStaticString(",\"key\":")
            write(record.key, format: format, &buffer)
            buffer.writeStaticString(",\"value\":")
            write(record.value, format: format, &buffer)
            buffer.writeStaticString(",\"partition\":")
            buffer.writeDecimal(record.partition)
            buffer.writeStaticString(",\"offset\":")
            buffer.writeDecimal(record.offset)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// About what `write` writes for `records`: exact for binary members, their bytes for the others.
    static func estimatedBytes(_ records: [KafkaRESTConsumedRecord], format: KafkaRESTEmbeddedFormat) -> Int {
        var total = 2
        for record in records {
            // `{"topic":…,"key":…,"value":…,"partition":…,"offset":…},` without the members' contents.
            total +=
                64 + record.topic.utf8.count + estimatedBytes(record.key, format) + estimatedBytes(record.value, format)
        }
        return total
    }

    private static func estimatedBytes(_ member: KafkaRESTConsumedRecord.Member, _ format: KafkaRESTEmbeddedFormat)
        -> Int
    {
        let count: Int
        switch member {
        case .bytes(nil), .json: return 4
        case .bytes(let bytes?): count = bytes.count
        case .payload(let payload): count = payload.readableBytes
        }
        return format == .binary ? (count + 2) / 3 * 4 + 2 : count + 2
    }

    private static func write(
        _ member: KafkaRESTConsumedRecord.Member, format: KafkaRESTEmbeddedFormat, _ buffer: inout ByteBuffer
    ) {
        switch member {
        case .bytes(nil), .json(nil):
            buffer.writeStaticString("null")
        case .json(let value?):
            buffer.writeJSONValue(value)
        case .bytes(let bytes?):
            bytes.withUnsafeBytes { write($0, format: format, &buffer) }
        case .payload(let payload):
            payload.withUnsafeReadableBytes { write($0, format: format, &buffer) }
        }
    }

    private static func write(
        _ bytes: UnsafeRawBufferPointer, format: KafkaRESTEmbeddedFormat, _ buffer: inout ByteBuffer
    ) {
        if format == .binary {
            buffer.writeInteger(UInt8(ascii: "\""))
            Base64.encode(bytes, into: &buffer)
            buffer.writeInteger(UInt8(ascii: "\""))
        } else if JSONParser.isValidJSON(bytes) {
            buffer.writeBytes(bytes)
        } else {
            // A record another protocol published that is not JSON (MQTT text, say): a JSON string of its
            // text rather than an error that would stall the consumer (docs/protocols/kafka-rest.md).
            buffer.writeJSONString(String(decoding: bytes, as: UTF8.self))
        }
    }
}
