package import BusCore
import NIOCore

/// A parsed Avro schema: the root type and every named type by full name. Parse with `init(parsing:)`;
/// encode and decode with `AvroBinaryEncoder`/`AvroBinaryDecoder`; compare with `canonicalForm`.
package struct AvroSchema: Sendable, Hashable {
    /// The schema's top type.
    package let root: AvroType
    /// Every record, enum and fixed the schema defines, by full name.
    package let namedTypes: [String: AvroType]

    init(root: AvroType, namedTypes: [String: AvroType]) {
        self.root = root
        self.namedTypes = namedTypes
    }

    /// Parses schema text (a JSON object, array or primitive name string). The named types of
    /// `references` (Confluent schema references) may be used by name.
    package init(parsing text: String, references: [AvroSchema] = []) throws(SchemaError) {
        let json: JSONValue
        do {
            json = try Array(text.utf8).withUnsafeBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) }
        } catch {
            throw .schema("schema is not JSON: \(error)")
        }
        try self.init(json: json, references: references)
    }

    /// Parses a schema given as JSON.
    package init(json: JSONValue, references: [AvroSchema] = []) throws(SchemaError) {
        var parser = AvroSchemaParser()
        for reference in references { parser.named.merge(reference.namedTypes) { first, _ in first } }
        let root = try parser.parse(json, namespace: "", depth: 0)
        self.init(root: root, namedTypes: parser.named)
        try AvroDefaultValidator(schema: self).validateDefaults(root)
    }

    /// The type with logical annotations stripped and references replaced by their definitions.
    func resolve(_ type: AvroType) -> AvroType {
        switch type {
        case .reference(let name): return namedTypes[name].map(resolve) ?? .null
        case .logical(_, let base): return resolve(base)
        default: return type
        }
    }

    /// Avro's Parsing Canonical Form: what two schemas must share to be the same schema.
    package var canonicalForm: String { AvroCanonicalForm.write(root) }
}
