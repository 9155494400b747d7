/// Why a schema, a compatibility level, a record or a framed payload was refused: the one error type of
/// SchemaKit. `confluentErrorCode` is the code a REST layer answers with (docs/schema-registry.md).
package struct SchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of refusal this is; each kind maps to one Confluent error code.
    package enum Kind: Sendable, Hashable {
        /// The schema text is not a valid schema of its type (registry 42201).
        case invalidSchema
        /// A compatibility level name that is not one of Confluent's seven (registry 42203).
        case invalidCompatibilityLevel
        /// A new schema breaks the subject's compatibility level (registry HTTP 409, error_code 409).
        case incompatibleSchema
        /// A record (JSON value or binary payload) does not fit its schema (REST proxy 42203/42206).
        case invalidRecord
        /// Bytes that are not in Confluent's wire format: no magic byte, short header (REST proxy 42206).
        case invalidWireFormat
        /// A valid schema this implementation refuses on purpose, e.g. a protobuf import (registry 42201).
        case unsupported
    }

    /// What kind of refusal.
    package var kind: Kind
    /// A sentence for the `message` member of the error body.
    package var message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The `error_code` Confluent's Schema Registry or REST proxy answers with for this kind.
    package var confluentErrorCode: Int {
        switch kind {
        case .invalidSchema, .unsupported: 42201
        case .invalidCompatibilityLevel: 42203
        case .incompatibleSchema: 409
        // kafka-rest: 42203 "Conversion of JSON to Avro failed", also used for JSON Schema and Protobuf.
        case .invalidRecord: 42203
        // kafka-rest: 42206 "Conversion of JSON failed" / a payload that is not in the wire format.
        case .invalidWireFormat: 42206
        }
    }

    /// The HTTP status that goes with `confluentErrorCode`.
    package var httpStatus: Int { kind == .incompatibleSchema ? 409 : 422 }

    package var description: String { message }

    static func schema(_ message: String) -> SchemaError { SchemaError(.invalidSchema, message) }
    static func record(_ message: String) -> SchemaError { SchemaError(.invalidRecord, message) }
}
