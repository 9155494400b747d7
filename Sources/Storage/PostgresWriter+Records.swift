import PostgresNIO

extension PostgresWriter {
    /// The record collection writes (docs/storage.md, "Records"), one statement each.
    static func enqueueRecord(_ write: StoreWrite, into statements: inout Statements) {
        switch write {
        case .saveCollection(let collection):
            statements.run(
                """
                INSERT INTO record_collection (name, definition) VALUES (\(collection.name), \(collection.definition))
                ON CONFLICT (name) DO UPDATE SET definition = excluded.definition
                """)
        case .deleteCollection(let name):
            statements.run("DELETE FROM record_collection WHERE name = \(name)")
            statements.run("DELETE FROM record WHERE collection = \(name)")
        case .saveRecord(let record):
            // A record of a collection deleted earlier is not written back (as SQLite).
            statements.run(
                """
                INSERT INTO record (collection, id, version, created, updated, fields)
                SELECT \(record.collection), \(record.id), \(Int64(bitPattern: record.version)),
                \(Int64(bitPattern: record.created)), \(Int64(bitPattern: record.updated)), \(record.fields)
                WHERE EXISTS (SELECT 1 FROM record_collection WHERE name = \(record.collection))
                ON CONFLICT (collection, id) DO UPDATE SET version = excluded.version, created = excluded.created,
                updated = excluded.updated, fields = excluded.fields
                """)
        case .deleteRecord(let collection, let id):
            statements.run("DELETE FROM record WHERE collection = \(collection) AND id = \(id)")
        default:
            preconditionFailure("not a record write: \(write)")
        }
    }
}

extension PostgresStateLoader {
    /// The records `keys` name (several instances share the database: one changed elsewhere, or about to
    /// be changed here).
    func loadRecords(_ keys: [(collection: String, id: String)]) throws -> [StoredRecord] {
        try rows(
            """
            SELECT record.collection, record.id, version, created, updated, fields FROM record
            JOIN unnest(\(keys.map(\.collection))::TEXT[], \(keys.map(\.id))::TEXT[]) AS wanted (collection, id)
            ON record.collection = wanted.collection AND record.id = wanted.id
            """
        ).map(Self.record)
    }

    /// One collection's definition (nil: none) and records, in one snapshot.
    func loadCollection(_ name: String) throws -> (StoredCollection?, [StoredRecord]) {
        _ = try rows("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? rows("COMMIT") }
        let definition = try rows("SELECT definition FROM record_collection WHERE name = \(name)").rows.first.map {
            StoredCollection(name: name, definition: try $0.decode(String.self))
        }
        guard definition != nil else { return (nil, []) }
        let records = try rows(
            "SELECT collection, id, version, created, updated, fields FROM record WHERE collection = \(name)"
        ).map(Self.record)
        return (definition, records)
    }

    private static func record(_ row: PostgresRow) throws -> StoredRecord {
        let (collection, id, version, created, updated, fields) = try row.decode(
            (String, String, Int64, Int64, Int64, String).self)
        return StoredRecord(
            collection: collection, id: id, version: UInt64(bitPattern: version),
            created: UInt64(bitPattern: created), updated: UInt64(bitPattern: updated), fields: fields)
    }

    /// Collections by name and their records by collection and id (as SQLite's load).
    func loadRecords(into state: inout StoredState) throws {
        for row in try rows(#"SELECT name, definition FROM record_collection ORDER BY name COLLATE "C""#) {
            let (name, definition) = try row.decode((String, String).self)
            state.collections.append(StoredCollection(name: name, definition: definition))
        }
        for row in try rows(
            #"SELECT collection, id, version, created, updated, fields FROM record ORDER BY collection COLLATE "C", id COLLATE "C""#
        ) {
            state.records.append(try Self.record(row))
        }
    }
}
