package import BusCore
package import SchemaKit

/// Records of the schema formats (avro, jsonschema, protobuf) to and from their stored bytes, Confluent's
/// wire format (magic byte, schema id, payload), through SchemaKit; SchemaKit's refusals become the
/// proxy's codes (`SchemaError.restProxyErrorCode`).
package enum KafkaRESTSchemaCodec {
    /// The subject a topic's keys or values are registered under (Confluent's `TopicNameStrategy`).
    package static func subject(topic: String, isKey: Bool) -> String { topic + (isKey ? "-key" : "-value") }

    /// Parses an embedded `key_schema`/`value_schema`; 42205 when it is not a schema of `type`.
    package static func parse(_ text: String, type: SchemaType) throws(KafkaRESTError) -> ParsedSchema {
        do {
            return try ParsedSchema(type: type, text: text)
        } catch {
            throw .invalidSchema(error.message)
        }
    }

    /// `value` serialized with `schema` and framed with `id`.
    package static func serialize(_ value: JSONValue, schema: ParsedSchema, id: Int) throws(KafkaRESTError) -> [UInt8] {
        do {
            return try schema.serialize(value, schemaID: UInt32(truncatingIfNeeded: id))
        } catch {
            throw self.error(error)
        }
    }

    /// The schema id a stored record was framed with; 50002 when the bytes are not in the wire format.
    package static func schemaID(of bytes: [UInt8], type: SchemaType) throws(KafkaRESTError) -> Int {
        do {
            return Int(try ConfluentWireFormat.decode(bytes, protobuf: type == .protobuf).schemaID)
        } catch {
            throw self.error(error)
        }
    }

    /// The JSON value of stored bytes framed for `schema`.
    package static func deserialize(_ bytes: [UInt8], schema: ParsedSchema) throws(KafkaRESTError) -> JSONValue {
        do {
            let frame = try ConfluentWireFormat.decode(bytes, protobuf: schema.type == .protobuf)
            return try schema.deserialize(frame)
        } catch {
            throw self.error(error)
        }
    }

    /// SchemaKit's refusal as the proxy answers it.
    package static func error(_ error: SchemaError) -> KafkaRESTError {
        let message: String
        switch error.restProxyErrorCode {
        case 42205: message = "Invalid schema: " + error.message
        case 42203: message = "Conversion of JSON to Object failed: " + error.message
        case 42207: message = "Error serializing message. " + error.message
        case 50002: message = "Kafka error: " + error.message
        default: message = error.message
        }
        let status = error.restProxyErrorCode == 50002 ? 500 : 422
        return KafkaRESTError(status: status, errorCode: error.restProxyErrorCode, message: message)
    }
}
