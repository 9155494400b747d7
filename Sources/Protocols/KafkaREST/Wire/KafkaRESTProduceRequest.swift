package import BusCore
package import NIOCore

/// The body of `POST /topics/{t}` and `POST /topics/{t}/partitions/{p}`: records (key, value, partition)
/// and, for the schema formats, the key and value schema (text or registry id).
package struct KafkaRESTProduceRequest: Sendable {
    /// One record as sent: key and value still JSON (base64 text for binary, any value for json, the
    /// schema's JSON for the schema formats).
    package struct Record: Sendable, Equatable {
        package var key: JSONValue?
        package var value: JSONValue?
        package var partition: Int?
    }

    package var records: [Record]
    package var keySchema: String?
    package var keySchemaID: Int?
    package var valueSchema: String?
    package var valueSchemaID: Int?

    /// Parses the body; 400 for bad JSON, 422 for a wrong shape.
    package init(body: ByteBuffer) throws(KafkaRESTError) {
        guard let object = try KafkaRESTJSON.object(body) else { throw .unprocessable("The request body is empty") }
        guard let items = try KafkaRESTJSON.array(object, "records") else {
            throw .unprocessable("\"records\" is required")
        }
        var records: [Record] = []
        for item in items {
            guard case .object = item else { throw .unprocessable("each record must be a JSON object") }
            let key = item["key"].flatMap { $0 == .null ? nil : $0 }
            let value = item["value"].flatMap { $0 == .null ? nil : $0 }
            let partition = try KafkaRESTJSON.integer(item, "partition")
            if let partition, partition < 0 { throw .unprocessable("\"partition\" must not be negative") }
            records.append(Record(key: key, value: value, partition: partition))
        }
        self.records = records
        keySchema = try KafkaRESTJSON.string(object, "key_schema")
        keySchemaID = try KafkaRESTJSON.integer(object, "key_schema_id")
        valueSchema = try KafkaRESTJSON.string(object, "value_schema")
        valueSchemaID = try KafkaRESTJSON.integer(object, "value_schema_id")
    }

    /// The bytes of a key or value in `binary` (base64) or `json` (its text) format; nil stays nil.
    package static func bytes(
        _ value: JSONValue?, format: KafkaRESTEmbeddedFormat, member: String
    ) throws(KafkaRESTError) -> [UInt8]? {
        guard let value else { return nil }
        switch format {
        case .binary:
            guard let text = value.stringValue, let bytes = Base64.decode(text) else {
                throw .unprocessable("\"\(member)\" must be a base64 string in the binary format")
            }
            return bytes
        case .json:
            return KafkaRESTJSON.text(value)
        case .avro, .jsonschema, .protobuf:
            preconditionFailure("schema formats are serialized with their schema")
        }
    }
}

/// One record's outcome in a produce answer.
package struct KafkaRESTProduceOffset: Sendable, Equatable {
    package var partition: Int?
    package var offset: Int?
    /// Kafka's per-record error: 50002 (not retriable) or 50003 (retriable); nil when stored.
    package var errorCode: Int?
    package var error: String?

    package init(partition: Int?, offset: Int?, errorCode: Int? = nil, error: String? = nil) {
        self.partition = partition
        self.offset = offset
        self.errorCode = errorCode
        self.error = error
    }
}

/// `{"key_schema_id":…,"value_schema_id":…,"offsets":[{"partition","offset","error_code","error"}]}`.
package enum KafkaRESTProduceResponse {
    package static func write(
        _ offsets: [KafkaRESTProduceOffset], keySchemaID: Int?, valueSchemaID: Int?, to buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString("{\"key_schema_id\":")
        writeOptional(keySchemaID, &buffer)
        buffer.writeStaticString(",\"value_schema_id\":")
        writeOptional(valueSchemaID, &buffer)
        buffer.writeStaticString(",\"offsets\":[")
        for (index, item) in offsets.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeStaticString("{\"partition\":")
            writeOptional(item.partition, &buffer)
            buffer.writeStaticString(",\"offset\":")
            writeOptional(item.offset, &buffer)
            guard item.errorCode != nil || item.error != nil else {
                // A stored record (nearly every one): its tail in one write.
                buffer.writeStaticString(",\"error_code\":null,\"error\":null}")
                continue
            }
            buffer.writeStaticString(",\"error_code\":")
            writeOptional(item.errorCode, &buffer)
            buffer.writeStaticString(",\"error\":")
            if let error = item.error { buffer.writeJSONString(error) } else { buffer.writeStaticString("null") }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeStaticString("]}")
    }

    static func writeOptional(_ value: Int?, _ buffer: inout ByteBuffer) {
        if let value { buffer.writeDecimal(value) } else { buffer.writeStaticString("null") }
    }
}
