package import SchemaKit

extension SchemaRegistry {
    // MARK: - Registering

    /// Registers `text` under `subject` (`POST /subjects/{s}/versions`) and completes with its global id:
    /// the existing id when the subject already has it (nothing is written), the id the schema has under
    /// another subject, or a new one. Refused with 42201 (does not parse, or a reference is not
    /// registered) or 409 (the subject's compatibility level says no). `normalize`: schemas are always
    /// compared in normalized form here (docs/protocols/schema-registry.md), so it changes nothing.
    package func register(
        subject: String, type: SchemaType, text: String, references: [SchemaReference] = [], normalize: Bool = false,
        completion: @escaping @Sendable (Result<Int, SchemaRegistryError>) -> Void
    ) {
        change(
            { state throws(SchemaRegistryError) in
                try Self.decideRegistration(
                    state, subject: subject, type: type, text: text, references: references)
            }, completion: completion)
    }

    /// `register`, awaited.
    package func register(
        subject: String, type: SchemaType, text: String, references: [SchemaReference] = [], normalize: Bool = false
    ) async throws(SchemaRegistryError) -> Int {
        try await change { state throws(SchemaRegistryError) in
            try Self.decideRegistration(state, subject: subject, type: type, text: text, references: references)
        }
    }

    static func decideRegistration(
        _ state: SchemaRegistryState, subject: String, type: SchemaType, text: String, references: [SchemaReference]
    ) throws(SchemaRegistryError) -> Decision<Int> {
        // Confluent's QualifiedSubject.isValidSubject: no control character, and not the names it keeps for
        // the global and empty subjects.
        guard !subject.isEmpty, !subject.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
            subject != "__GLOBAL", subject != "__EMPTY"
        else { throw SchemaRegistryError(code: 42208, message: "The specified subject is not a valid subject") }
        let parsed = try state.parse(type: type, text: text, references: references)
        let key = SchemaRegistryState.key(parsed, text: text, references: references)
        let live = state.versions(of: subject, deleted: false)
        let knownID = state.id(forKey: key)
        if let knownID, live.contains(where: { $0.id == knownID }) { return .answer(knownID) }
        do throws(SchemaError) {
            try state.level(for: subject).check(
                parsed, previous: live.map { state.registered(subject, $0).parsed })
        } catch {
            throw SchemaRegistryError(error)
        }
        let id = knownID ?? state.nextID
        let version = (state.versions(of: subject, deleted: true).last?.version ?? 0) + 1
        let record = SchemaRegistryRecord(
            kind: .schema, subject: subject, version: version, id: id, schemaType: type.rawValue, schema: text,
            references: references.isEmpty ? nil : references)
        return .write(record, parsed: knownID == nil ? parsed : nil, answer: id)
    }

    // MARK: - Deleting

    /// Deletes one version (`DELETE /subjects/{s}/versions/{v}`; nil version: the latest) and completes with
    /// its number. Soft by default (40406 when already soft-deleted); `permanent` removes a soft-deleted
    /// version for good (40407 when it was not soft-deleted first). 42206 while a live schema references it.
    package func deleteVersion(
        subject: String, version: Int?, permanent: Bool,
        completion: @escaping @Sendable (Result<Int, SchemaRegistryError>) -> Void
    ) {
        change(
            { state throws(SchemaRegistryError) in
                let all = state.versions(of: subject, deleted: true)
                guard !all.isEmpty else { throw .subjectNotFound(subject) }
                // A number names any version; `latest` the newest live one (the newest of all when permanent).
                let found =
                    if let version { all.first { $0.version == version } } else {
                        permanent ? all.last : all.last { !$0.deleted }
                    }
                guard let found else { throw .versionNotFound(version) }
                if permanent && !found.deleted { throw .versionNotSoftDeleted(subject, found.version) }
                if !permanent && found.deleted { throw .versionSoftDeleted(subject, found.version) }
                try Self.checkNoReferrers(state, subject: subject, versions: [found.version])
                return .write(
                    SchemaRegistryRecord(
                        kind: permanent ? .permanentDelete : .softDelete, subject: subject, versions: [found.version]),
                    parsed: nil, answer: found.version)
            }, completion: completion)
    }

    /// Deletes a subject (`DELETE /subjects/{s}`) and completes with the versions deleted: soft (40404 when
    /// every version already is), or `permanent` (40405 while a version is not soft-deleted). A permanent
    /// delete also drops the subject's compatibility level.
    package func deleteSubject(
        subject: String, permanent: Bool, completion: @escaping @Sendable (Result<[Int], SchemaRegistryError>) -> Void
    ) {
        change(
            { state throws(SchemaRegistryError) in
                let all = state.versions(of: subject, deleted: true)
                guard !all.isEmpty else { throw .subjectNotFound(subject) }
                let live = all.filter { !$0.deleted }.map(\.version)
                if permanent && !live.isEmpty { throw .subjectNotSoftDeleted(subject) }
                if !permanent && live.isEmpty { throw .subjectSoftDeleted(subject) }
                let versions = permanent ? all.map(\.version) : live
                try Self.checkNoReferrers(state, subject: subject, versions: versions)
                return .write(
                    SchemaRegistryRecord(
                        kind: permanent ? .permanentDelete : .softDelete, subject: subject, versions: versions),
                    parsed: nil, answer: versions)
            }, completion: completion)
    }

    /// 42206 when a version that is not being deleted with them references one of `versions`.
    private static func checkNoReferrers(
        _ state: SchemaRegistryState, subject: String, versions: [Int]
    ) throws(SchemaRegistryError) {
        for version in versions {
            let referrers = state.referrers(of: subject, version: version).filter { referrer in
                !(referrer.subject == subject && versions.contains(referrer.version))
                    && state.versions(of: referrer.subject, deleted: false).contains { $0.version == referrer.version }
            }
            if !referrers.isEmpty { throw .referenceExists(subject, versions) }
        }
    }

    // MARK: - Compatibility levels

    /// Sets the compatibility level of `subject` (nil: the global level) and completes with it.
    package func setCompatibility(
        _ level: CompatibilityLevel, subject: String?,
        completion: @escaping @Sendable (Result<CompatibilityLevel, SchemaRegistryError>) -> Void
    ) {
        change(
            { _ throws(SchemaRegistryError) in
                .write(
                    SchemaRegistryRecord(kind: .config, subject: subject, compatibility: level.rawValue), parsed: nil,
                    answer: level)
            }, completion: completion)
    }

    /// Removes the level of `subject` (nil: the global one, back to BACKWARD) and completes with the level
    /// that applied before. 40401 for a subject with neither versions nor a level of its own.
    package func deleteCompatibility(
        subject: String?, completion: @escaping @Sendable (Result<CompatibilityLevel, SchemaRegistryError>) -> Void
    ) {
        change(
            { state throws(SchemaRegistryError) in
                if let subject, state.subjectLevels[subject] == nil, state.versions(of: subject, deleted: true).isEmpty
                {
                    throw .subjectNotFound(subject)
                }
                return .write(
                    SchemaRegistryRecord(kind: .config, subject: subject, compatibility: nil), parsed: nil,
                    answer: state.level(for: subject))
            }, completion: completion)
    }
}
