/// Why a schema, a compatibility level, a record or a framed payload was refused: the one error type of
/// SchemaKit. `registryErrorCode` and `restProxyErrorCode` are the codes each API answers with
/// (docs/schema-registry.md).
package struct SchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of refusal this is; each kind maps to one Confluent error code.
    package enum Kind: Sendable, Hashable {
        /// The schema text is not a valid schema of its type (registry 42201).
        case invalidSchema
        /// A compatibility level name that is not one of Confluent's seven (registry 42203).
        case invalidCompatibilityLevel
        /// A new schema breaks the subject's compatibility level (registry HTTP 409, error_code 409).
        case incompatibleSchema
        /// A record (JSON value or binary payload) does not fit its schema (REST proxy 42203).
        case invalidRecord
        /// Stored bytes that are not in Confluent's wire format: no magic byte, short header (REST proxy 50002).
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

    /// The `error_code` Confluent's Schema Registry answers with for this kind (its `Errors`):
    /// 42201 invalid schema, 42203 invalid compatibility level, 409 incompatible schema.
    package var registryErrorCode: Int {
        switch kind {
        case .invalidSchema, .unsupported: 42201
        case .invalidCompatibilityLevel: 42203
        case .incompatibleSchema: 409
        // The registry never validates records; a record error reaching it is a bad request body.
        case .invalidRecord, .invalidWireFormat: 42201
        }
    }

    /// The `error_code` Confluent's REST proxy answers with for this kind (kafka-rest's `Errors`):
    /// 42205 invalid embedded `value_schema`/`key_schema`, 42203 a record that does not convert
    /// ("Conversion of JSON to Avro failed"), 42207 when auto-registering an incompatible schema (the
    /// proxy's answer to any registry refusal), 50002 for a stored record the proxy cannot read back (not
    /// the client's fault). The proxy's HTTP status is 500 for 50002, else 422.
    package var restProxyErrorCode: Int {
        switch kind {
        case .invalidSchema, .unsupported: 42205
        case .invalidCompatibilityLevel: 42203
        case .incompatibleSchema: 42207
        case .invalidRecord: 42203
        case .invalidWireFormat: 50002
        }
    }

    /// The HTTP status that goes with the registry's codes: 409, 500 for an unreadable stored record, else 422.
    package var httpStatus: Int {
        switch kind {
        case .incompatibleSchema: 409
        case .invalidWireFormat: 500
        default: 422
        }
    }

    package var description: String { message }

    static func schema(_ message: String) -> SchemaError { SchemaError(.invalidSchema, message) }
    static func record(_ message: String) -> SchemaError { SchemaError(.invalidRecord, message) }
}
