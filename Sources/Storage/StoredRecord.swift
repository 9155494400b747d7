/// A record collection's definition, as the records service encodes it (JSON: schema, access rules).
/// The store keeps it as opaque text so a new rule or option needs no migration.
package struct StoredCollection: Sendable, Hashable {
    package var name: String
    /// The definition as JSON text (`RecordCollectionDefinition`'s encoding).
    package var definition: String
    package init(name: String, definition: String) {
        self.name = name
        self.definition = definition
    }
}

/// One record of a collection: its system fields and its own fields as JSON object text, kept byte for
/// byte as the service wrote them.
package struct StoredRecord: Sendable, Hashable {
    package var collection: String
    package var id: String
    /// 1 on create, one more on each update (the ETag / `If-Match` value).
    package var version: UInt64
    /// Nanoseconds since 1970.
    package var created: UInt64
    package var updated: UInt64
    /// The record's own fields (not the system ones) as a JSON object.
    package var fields: String
    package init(collection: String, id: String, version: UInt64, created: UInt64, updated: UInt64, fields: String) {
        self.collection = collection
        self.id = id
        self.version = version
        self.created = created
        self.updated = updated
        self.fields = fields
    }
}
