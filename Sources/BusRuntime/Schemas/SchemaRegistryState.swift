import BusCore
import NIOCore
package import SchemaKit

/// A version of a subject as the registry answers it.
package struct RegisteredSchema: Sendable {
    package var subject: String
    package var version: Int
    /// The global id: the same schema under any subject has the same id.
    package var id: Int
    package var type: SchemaType
    /// The schema as first registered under this id.
    package var text: String
    package var references: [SchemaReference]
    package var parsed: ParsedSchema
    /// Soft-deleted: listed only with `deleted=true`; its id still resolves.
    package var deleted: Bool
}

/// The registry's contents: what replaying the `_schemas` records in order builds. A value, so a writer
/// decides on a snapshot while readers keep the one before it; changed only by `apply`.
struct SchemaRegistryState: Sendable {
    /// One schema, by global id (every id ever given out; a schema keeps its id when it is registered again).
    struct Schema: Sendable {
        var id: Int
        var type: SchemaType
        var text: String
        var references: [SchemaReference]
        var parsed: ParsedSchema
    }

    /// One version of a subject.
    struct Version: Sendable {
        var version: Int
        var id: Int
        var deleted: Bool
    }

    private(set) var schemas: [Int: Schema] = [:]
    /// Schemas by `SchemaRegistryState.key(…)`: what makes a registration "the same schema".
    private(set) var ids: [String: Int] = [:]
    /// Versions of each subject, in version order (permanently deleted ones are gone).
    private(set) var subjects: [String: [Version]] = [:]
    private(set) var globalLevel: CompatibilityLevel?
    private(set) var subjectLevels: [String: CompatibilityLevel] = [:]

    var nextID: Int { (schemas.keys.max() ?? 0) + 1 }

    // MARK: - Reading

    func schema(id: Int) -> Schema? { schemas[id] }

    /// Whether some version (soft-deleted ones too) still uses `id`: a schema whose every version was
    /// permanently deleted is not found by id, as in Confluent.
    func isInUse(_ id: Int) -> Bool {
        subjects.values.contains { $0.contains { $0.id == id } }
    }

    func versions(of subject: String, deleted: Bool) -> [Version] {
        (subjects[subject] ?? []).filter { deleted || !$0.deleted }
    }

    func registered(_ subject: String, _ version: Version) -> RegisteredSchema {
        let schema = schemas[version.id]!
        return RegisteredSchema(
            subject: subject, version: version.version, id: version.id, type: schema.type, text: schema.text,
            references: schema.references, parsed: schema.parsed, deleted: version.deleted)
    }

    /// The level that applies to `subject`: its own, else the global one, else BACKWARD.
    func level(for subject: String?) -> CompatibilityLevel {
        subject.flatMap { subjectLevels[$0] } ?? globalLevel ?? .default
    }

    /// The (subject, version) pairs whose schemas reference `subject`'s `version` (soft-deleted ones too).
    func referrers(of subject: String, version: Int) -> [(subject: String, version: Int, id: Int)] {
        var found: [(subject: String, version: Int, id: Int)] = []
        for (name, versions) in subjects.sorted(by: { $0.key < $1.key }) {
            for entry in versions
            where schemas[entry.id]?.references.contains(where: { $0.subject == subject && $0.version == version })
                == true
            {
                found.append((subject: name, version: entry.version, id: entry.id))
            }
        }
        return found
    }

    /// Parses `text` as a `type` schema with its references resolved (transitively) from this registry.
    func parse(type: SchemaType, text: String, references: [SchemaReference]) throws(SchemaRegistryError)
        -> ParsedSchema
    {
        var resolved: [String: ParsedSchema] = [:]
        var pending = references
        var seen: Set<SchemaReference> = []
        while let reference = pending.popLast() {
            guard seen.insert(reference).inserted else { continue }
            guard let version = subjects[reference.subject]?.first(where: { $0.version == reference.version }),
                let schema = schemas[version.id]
            else {
                throw SchemaRegistryError(
                    code: 42201,
                    message:
                        "Invalid schema: reference \(reference.name) names subject '\(reference.subject)' version \(reference.version), which is not registered"
                )
            }
            resolved[reference.name] = schema.parsed
            pending += schema.references
        }
        do throws(SchemaError) {
            return try ParsedSchema(type: type, text: text, references: resolved)
        } catch {
            throw SchemaRegistryError(code: 42201, message: "Invalid schema: \(error.message)")
        }
    }

    /// What makes two registrations the same schema (Confluent compares the schema's canonical string,
    /// its type and its references): Avro compared as compact JSON (defaults, docs and order matter, as
    /// they do to Avro), JSON Schema as compact JSON, protobuf in its normalized form.
    static func key(_ parsed: ParsedSchema, text: String, references: [SchemaReference]) -> String {
        var form = parsed.canonicalForm
        if case .avro = parsed, let value = Array(text.utf8).withUnsafeBytes({ try? JSONParser.parse($0) }) {
            var buffer = ByteBuffer()
            buffer.writeJSONValue(value)
            form = String(buffer: buffer)
        }
        let referenceKey = references.map { "\($0.name)=\($0.subject)/\($0.version)" }.joined(separator: ",")
        return "\(parsed.type.rawValue)\u{0}\(form)\u{0}\(referenceKey)"
    }

    // MARK: - Changing

    /// Applies one record of the log. `parsed` is the schema a writer already parsed (replay parses).
    /// Returns false for a record that cannot be applied (a schema that no longer parses): it is skipped.
    @discardableResult
    mutating func apply(_ record: SchemaRegistryRecord, parsed: ParsedSchema? = nil) -> Bool {
        switch record.kind {
        case .schema:
            guard let subject = record.subject, let version = record.version, let id = record.id,
                let text = record.schema
            else { return false }
            let references = record.references ?? []
            if schemas[id] == nil {
                guard let type = try? SchemaType(schemaTypeMember: record.schemaType),
                    let schema = parsed ?? (try? parse(type: type, text: text, references: references))
                else { return false }
                schemas[id] = Schema(id: id, type: type, text: text, references: references, parsed: schema)
                ids[Self.key(schema, text: text, references: references)] = id
            }
            var versions = subjects[subject] ?? []
            versions.removeAll { $0.version == version }
            versions.append(Version(version: version, id: id, deleted: false))
            versions.sort { $0.version < $1.version }
            subjects[subject] = versions
        case .softDelete:
            guard let subject = record.subject, let deleted = record.versions else { return false }
            subjects[subject] = subjects[subject]?.map {
                var version = $0
                if deleted.contains(version.version) { version.deleted = true }
                return version
            }
        case .permanentDelete:
            guard let subject = record.subject, let deleted = record.versions else { return false }
            let remaining = (subjects[subject] ?? []).filter { !deleted.contains($0.version) }
            subjects[subject] = remaining.isEmpty ? nil : remaining
            if remaining.isEmpty { subjectLevels[subject] = nil }
        case .config:
            let level = record.compatibility.flatMap { CompatibilityLevel(rawValue: $0) }
            if let subject = record.subject {
                subjectLevels[subject] = level
            } else {
                globalLevel = level
            }
        }
        return true
    }

    /// The id of a schema already known by `key`.
    func id(forKey key: String) -> Int? { ids[key] }
}
