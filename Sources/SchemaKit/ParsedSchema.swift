package import BusCore
import NIOCore

/// A registered schema of any of the three types, parsed: what the registry stores per id and what the
/// REST proxy serializes records with.
package enum ParsedSchema: Sendable {
    case avro(AvroSchema)
    case json(JSONSchema)
    case protobuf(ProtobufSchema)

    /// Parses `text` as a schema of `type`; `invalidSchema`/`unsupported` errors map to 42201.
    /// `references` are Confluent schema references, by their `name`: an Avro schema may use their
    /// named types, a JSON schema may `$ref` them by name; protobuf imports are not supported.
    package init(type: SchemaType, text: String, references: [String: ParsedSchema] = [:]) throws(SchemaError) {
        switch type {
        case .avro:
            var avroReferences: [AvroSchema] = []
            for (name, reference) in references.sorted(by: { $0.key < $1.key }) {
                guard case .avro(let schema) = reference else {
                    throw .schema("reference \(name) is not an Avro schema")
                }
                avroReferences.append(schema)
            }
            self = .avro(try AvroSchema(parsing: text, references: avroReferences))
        case .json:
            var documents: [String: JSONValue] = [:]
            for (name, reference) in references {
                guard case .json(let schema) = reference else {
                    throw .schema("reference \(name) is not a JSON schema")
                }
                documents[name] = schema.root
            }
            self = .json(try JSONSchema(parsing: text, references: documents))
        case .protobuf:
            guard references.isEmpty else {
                throw SchemaError(.unsupported, "protobuf schema references (imports) are not supported")
            }
            self = .protobuf(try ProtobufSchema(parsing: text))
        }
    }

    package var type: SchemaType {
        switch self {
        case .avro: .avro
        case .json: .json
        case .protobuf: .protobuf
        }
    }

    /// A normalized text: equal for schemas the registry must treat as the same (Avro Parsing
    /// Canonical Form, the JSON document re-written compactly, the normalized .proto text).
    package var canonicalForm: String {
        switch self {
        case .avro(let schema): return schema.canonicalForm
        case .json(let schema):
            var buffer = ByteBufferWriter()
            return buffer.write(schema.root)
        case .protobuf(let schema): return schema.canonicalForm
        }
    }

    /// Why a consumer using `self` cannot read data written with `writer`; empty when it can. Schemas
    /// of different types are never compatible.
    package func incompatibilities(readingDataWrittenWith writer: ParsedSchema) -> [String] {
        switch (self, writer) {
        case (.avro(let reader), .avro(let writer)): AvroCompatibility.incompatibilities(reader: reader, writer: writer)
        case (.json(let reader), .json(let writer)):
            JSONSchemaCompatibility.incompatibilities(reader: reader, writer: writer)
        case (.protobuf(let reader), .protobuf(let writer)):
            ProtobufCompatibility.incompatibilities(reader: reader, writer: writer)
        default: ["SCHEMA_TYPE_CHANGED: \(writer.type.rawValue) → \(type.rawValue)"]
        }
    }

    /// A record's JSON value serialized for storage, framed in Confluent's wire format with `id`.
    /// Protobuf uses `messageName` (the first message when nil); JSON is validated and stored as text.
    package func serialize(_ value: JSONValue, schemaID: UInt32, messageName: String? = nil) throws(SchemaError)
        -> [UInt8]
    {
        switch self {
        case .avro(let schema):
            return ConfluentWireFormat.encode(
                .init(schemaID: schemaID, payload: try AvroBinaryEncoder.encode(value, schema: schema)))
        case .json(let schema):
            try schema.validate(value)
            var buffer = ByteBufferWriter()
            return ConfluentWireFormat.encode(.init(schemaID: schemaID, payload: Array(buffer.write(value).utf8)))
        case .protobuf(let schema):
            let message = try schema.message(named: messageName)
            let payload = try ProtobufBinaryEncoder.encode(value, schema: schema, messageName: message.fullName)
            let indexes = schema.indexes(of: message.fullName) ?? [0]
            return ConfluentWireFormat.encode(.init(schemaID: schemaID, messageIndexes: indexes, payload: payload))
        }
    }

    /// The JSON value of a framed record's payload (after `ConfluentWireFormat.decode`).
    package func deserialize(_ frame: ConfluentWireFormat.Frame, limits: SchemaDecodingLimits = .default)
        throws(SchemaError)
        -> JSONValue
    {
        switch self {
        case .avro(let schema):
            return try AvroBinaryDecoder.decode(frame.payload, schema: schema, limits: limits)
        case .json:
            do {
                return try frame.payload.withUnsafeBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) }
            } catch {
                throw .record("payload is not JSON: \(error)")
            }
        case .protobuf(let schema):
            let message = try schema.message(at: frame.messageIndexes ?? [0])
            return try ProtobufBinaryDecoder.decode(
                frame.payload, schema: schema, messageName: message.fullName, limits: limits)
        }
    }
}

/// Compact JSON text of a value, through BusCore's writer.
struct ByteBufferWriter {
    mutating func write(_ value: JSONValue) -> String {
        var buffer = ByteBuffer()
        buffer.writeJSONValue(value)
        return String(buffer: buffer)
    }
}
