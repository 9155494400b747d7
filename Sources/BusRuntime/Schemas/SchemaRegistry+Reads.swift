package import SchemaKit

extension SchemaRegistry {
    // MARK: - Reading (what the Kafka REST proxy calls)

    /// The schema with global id `id`, while some version (soft-deleted ones too) uses it.
    package func schema(id: Int) -> (schema: ParsedSchema, text: String, type: SchemaType)? {
        let state = self.state
        guard state.isInUse(id), let schema = state.schema(id: id) else { return nil }
        return (schema.parsed, schema.text, schema.type)
    }

    /// The schema with global id `id` with its references, while some version uses it.
    package func registeredSchema(id: Int) -> (type: SchemaType, text: String, references: [SchemaReference])? {
        let state = self.state
        guard state.isInUse(id), let schema = state.schema(id: id) else { return nil }
        return (schema.type, schema.text, schema.references)
    }

    /// The newest version of `subject` that is not deleted.
    package func latest(subject: String) -> RegisteredSchema? {
        let state = self.state
        return state.versions(of: subject, deleted: false).last.map { state.registered(subject, $0) }
    }

    /// One version of `subject`; soft-deleted ones only with `deleted`.
    package func version(subject: String, version: Int, deleted: Bool = false) -> RegisteredSchema? {
        let state = self.state
        return state.versions(of: subject, deleted: deleted).first { $0.version == version }.map {
            state.registered(subject, $0)
        }
    }

    /// Subjects with a version that is not deleted (with `deleted`, soft-deleted ones too), sorted.
    package func subjects(deleted: Bool = false, prefix: String? = nil) -> [String] {
        let state = self.state
        return state.subjects.keys.filter { subject in
            (prefix.map { subject.hasPrefix($0) } ?? true) && !state.versions(of: subject, deleted: deleted).isEmpty
        }.sorted()
    }

    /// The versions of `subject` (soft-deleted ones with `deleted`); 40401 when it has none.
    package func versions(subject: String, deleted: Bool = false) throws(SchemaRegistryError) -> [Int] {
        let versions = state.versions(of: subject, deleted: deleted).map(\.version)
        guard !versions.isEmpty else { throw .subjectNotFound(subject) }
        return versions
    }

    /// The (subject, version) pairs using global id `id` (soft-deleted ones with `deleted`).
    package func usages(id: Int, deleted: Bool = false) -> [(subject: String, version: Int)] {
        let state = self.state
        var found: [(subject: String, version: Int)] = []
        for subject in state.subjects.keys.sorted() {
            for version in state.versions(of: subject, deleted: deleted) where version.id == id {
                found.append((subject: subject, version: version.version))
            }
        }
        return found
    }

    /// The ids of the schemas that reference `subject`'s `version` (40401/40402 when there is no such version).
    package func referencedBy(subject: String, version: Int) throws(SchemaRegistryError) -> [Int] {
        let state = self.state
        guard !state.versions(of: subject, deleted: true).isEmpty else { throw .subjectNotFound(subject) }
        guard state.versions(of: subject, deleted: true).contains(where: { $0.version == version }) else {
            throw .versionNotFound(version)
        }
        return state.referrers(of: subject, version: version).filter { referrer in
            state.versions(of: referrer.subject, deleted: false).contains { $0.version == referrer.version }
        }.map(\.id)
    }

    /// The version of `subject` holding this schema (`POST /subjects/{s}`): 40401 when the subject has no
    /// version, 40403 when none holds it, 42201 when it does not parse.
    package func lookup(
        subject: String, type: SchemaType, text: String, references: [SchemaReference] = [], deleted: Bool = false
    ) throws(SchemaRegistryError) -> RegisteredSchema {
        let state = self.state
        let versions = state.versions(of: subject, deleted: deleted)
        guard !versions.isEmpty else { throw .subjectNotFound(subject) }
        let parsed = try state.parse(type: type, text: text, references: references)
        guard let id = state.id(forKey: SchemaRegistryState.key(parsed, text: text, references: references)),
            let version = versions.last(where: { $0.id == id })
        else { throw .schemaNotFound() }
        return state.registered(subject, version)
    }

    /// The compatibility level of `subject` when it has one of its own (nil subject: the global level, which
    /// is BACKWARD until set).
    package func compatibility(subject: String?) -> CompatibilityLevel? {
        let state = self.state
        guard let subject else { return state.level(for: nil) }
        return state.subjectLevels[subject]
    }

    /// The level that applies to `subject`: its own, else the global one.
    package func effectiveCompatibility(subject: String) -> CompatibilityLevel { state.level(for: subject) }

    /// What keeps a new schema from being registered under `subject` (its level's problems), checked against
    /// `version` (nil: every version the level compares with). 40401/40402 for a version that is not there.
    package func incompatibilities(
        subject: String, version: Int?, latest: Bool, type: SchemaType, text: String, references: [SchemaReference]
    ) throws(SchemaRegistryError) -> [String] {
        let state = self.state
        let parsed = try state.parse(type: type, text: text, references: references)
        let versions = state.versions(of: subject, deleted: false)
        let level = state.level(for: subject)
        var previous: [ParsedSchema]
        if let version {
            guard !versions.isEmpty else { throw .subjectNotFound(subject) }
            guard let found = versions.first(where: { $0.version == version }) else { throw .versionNotFound(version) }
            previous = [state.registered(subject, found).parsed]
        } else if latest {
            previous = versions.last.map { [state.registered(subject, $0).parsed] } ?? []
        } else {
            previous = versions.map { state.registered(subject, $0).parsed }
        }
        return level.incompatibilities(of: parsed, previous: previous)
    }
}
