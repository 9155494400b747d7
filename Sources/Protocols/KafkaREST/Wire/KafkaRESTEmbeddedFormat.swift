package import SchemaKit

/// How record keys and values are written in requests and responses: the `<format>` of
/// `application/vnd.kafka.<format>.v2+json`, and a consumer instance's `format`.
package enum KafkaRESTEmbeddedFormat: String, Sendable, Hashable, CaseIterable {
    /// base64 of the raw bytes.
    case binary
    /// Any JSON value, stored as its UTF-8 text.
    case json
    /// Avro, through the schema registry (Confluent wire format in the log).
    case avro
    /// JSON Schema, through the schema registry.
    case jsonschema
    /// Protobuf, through the schema registry.
    case protobuf

    /// The schema type of a schema format; nil for `binary` and `json`.
    package var schemaType: SchemaType? {
        switch self {
        case .binary, .json: nil
        case .avro: .avro
        case .jsonschema: .json
        case .protobuf: .protobuf
        }
    }

    /// `application/vnd.kafka.<format>.v2+json`.
    package var mediaType: String { "application/vnd.kafka.\(rawValue).v2+json" }
}
