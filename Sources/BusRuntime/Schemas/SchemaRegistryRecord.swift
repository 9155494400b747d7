import Foundation

/// A schema reference of a registered schema (Confluent's `{"name","subject","version"}`): `name` is how
/// the referring schema names it (an Avro full name, a JSON Schema `$ref`), the rest where it lives.
package struct SchemaReference: Sendable, Hashable, Codable {
    package var name: String
    package var subject: String
    package var version: Int

    package init(name: String, subject: String, version: Int) {
        self.name = name
        self.subject = subject
        self.version = version
    }
}

/// One entry of the registry's log (the `_schemas` stream), as Confluent's `_schemas` topic keeps one
/// record per change. Every change is one record, so a change is either stored whole or not at all, and
/// replaying the records in order rebuilds the registry.
struct SchemaRegistryRecord: Sendable, Codable, Equatable {
    enum Kind: String, Sendable, Codable {
        /// A version registered under a subject (with the schema's global id).
        case schema
        /// Versions of a subject soft-deleted (still readable with `deleted=true`, ids still resolve).
        case softDelete
        /// Soft-deleted versions removed for good.
        case permanentDelete
        /// A compatibility level set (`compatibility`) or removed (nil) for `subject`, or globally (nil).
        case config
    }

    var kind: Kind
    var subject: String?
    var version: Int?
    var versions: [Int]?
    var id: Int?
    var schemaType: String?
    var schema: String?
    var references: [SchemaReference]?
    var compatibility: String?

    /// The record's bytes in the stream (JSON, so the stream reads well in `/api/streams`).
    func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(self))) ?? []
    }

    static func decode(_ bytes: [UInt8]) -> SchemaRegistryRecord? {
        try? JSONDecoder().decode(SchemaRegistryRecord.self, from: Data(bytes))
    }
}
