/// The schema types Confluent's registry knows, spelled as its `schemaType` member.
package enum SchemaType: String, Sendable, Hashable, CaseIterable {
    /// Apache Avro: the registry's default when `schemaType` is absent.
    case avro = "AVRO"
    /// JSON Schema (draft 2020-12, with the draft-07 keywords Confluent users still send).
    case json = "JSON"
    /// Protocol Buffers, proto3 message definitions.
    case protobuf = "PROTOBUF"

    /// The type named by a request's `schemaType`, `AVRO` when absent (as the registry does).
    package init(schemaTypeMember value: String?) throws(SchemaError) {
        guard let value else {
            self = .avro
            return
        }
        guard let type = SchemaType(rawValue: value.uppercased()) else {
            throw SchemaError(.invalidSchema, "unknown schema type \(value)")
        }
        self = type
    }
}
