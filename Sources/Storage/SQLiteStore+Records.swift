import GRDB

extension SQLiteWriter {
    /// The record collection writes (docs/storage.md, "Records").
    func applyRecord(_ write: StoreWrite, _ db: Database) throws {
        switch write {
        case .saveCollection(let collection):
            try run(
                db, "INSERT OR REPLACE INTO record_collection (name, definition) VALUES (?, ?)",
                .text(collection.name), .text(collection.definition))
        case .deleteCollection(let name):
            try run(db, "DELETE FROM record_collection WHERE name = ?", .text(name))
            try run(db, "DELETE FROM record WHERE collection = ?", .text(name))
        case .saveRecord(let record):
            // A record of a collection deleted earlier in the same or a previous batch is not written back.
            try run(
                db,
                """
                INSERT OR REPLACE INTO record (collection, id, version, created, updated, fields)
                SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM record_collection WHERE name = ?1)
                """,
                .text(record.collection), .text(record.id), .int(Int64(bitPattern: record.version)),
                .int(Int64(bitPattern: record.created)), .int(Int64(bitPattern: record.updated)), .text(record.fields))
        case .deleteRecord(let collection, let id):
            try run(db, "DELETE FROM record WHERE collection = ? AND id = ?", .text(collection), .text(id))
        default:
            preconditionFailure("not a record write: \(write)")
        }
    }
}

extension SQLiteStore {
    /// Collections by name and their records by collection and id.
    static func loadRecords(_ db: Database, into state: inout StoredState) throws {
        for row in try Row.fetchAll(db, sql: "SELECT name, definition FROM record_collection ORDER BY name") {
            state.collections.append(StoredCollection(name: row["name"], definition: row["definition"]))
        }
        let rows = try Row.fetchCursor(
            db, sql: "SELECT collection, id, version, created, updated, fields FROM record ORDER BY collection, id")
        while let row = try rows.next() {
            let version: Int64 = row["version"]
            let created: Int64 = row["created"]
            let updated: Int64 = row["updated"]
            state.records.append(
                StoredRecord(
                    collection: row["collection"], id: row["id"], version: UInt64(bitPattern: version),
                    created: UInt64(bitPattern: created), updated: UInt64(bitPattern: updated), fields: row["fields"]))
        }
    }
}
