package import BusCore
package import NIOCore

/// One record handed out by `GET records`.
package struct KafkaRESTConsumedRecord: Sendable {
    /// A key or value as it is written: bytes (binary: base64; json: their JSON text) or, for the schema
    /// formats, the JSON value read through the schema.
    package enum Member: Sendable, Equatable {
        case bytes([UInt8]?)
        case json(JSONValue?)
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

    private static func write(
        _ member: KafkaRESTConsumedRecord.Member, format: KafkaRESTEmbeddedFormat, _ buffer: inout ByteBuffer
    ) {
        switch member {
        case .bytes(nil), .json(nil):
            buffer.writeStaticString("null")
        case .json(let value?):
            buffer.writeJSONValue(value)
        case .bytes(let bytes?):
            if format == .binary {
                buffer.writeInteger(UInt8(ascii: "\""))
                bytes.withUnsafeBytes { Base64.encode($0, into: &buffer) }
                buffer.writeInteger(UInt8(ascii: "\""))
            } else if bytes.withUnsafeBytes({ JSONParser.isValidJSON($0) }) {
                buffer.writeBytes(bytes)
            } else {
                // A record another protocol published that is not JSON (MQTT text, say): a JSON string of its
                // text rather than an error that would stall the consumer (docs/protocols/kafka-rest.md).
                buffer.writeJSONString(String(decoding: bytes, as: UTF8.self))
            }
        }
    }
}
