package import BusCore
import NIOCore

/// A record as the records service holds it: system fields, its own fields, and the whole record as
/// clients see it (PocketBase's shape plus `version`), both as a value (filters, sorts) and as JSON text
/// (answers and change events, encoded once per version).
package struct Record: Sendable {
    package let collection: String
    package let id: String
    package let version: UInt64
    /// Nanoseconds since 1970.
    package let created: UInt64
    package let updated: UInt64
    /// The record's own fields, in their order.
    package let fields: [JSONField]
    /// `{"collectionId","collectionName","id","created","updated","version",…fields}`.
    package let document: JSONValue
    package let json: String

    /// Member names the service owns; a client's value for them is ignored.
    package static let systemFields: Set<String> = [
        "id", "collectionId", "collectionName", "created", "updated", "version",
    ]

    package init(collection: String, id: String, version: UInt64, created: UInt64, updated: UInt64, fields: [JSONField])
    {
        self.collection = collection
        self.id = id
        self.version = version
        self.created = created
        self.updated = updated
        self.fields = fields
        let system: [JSONField] = [
            JSONField(key: "collectionId", value: .string(collection)),
            JSONField(key: "collectionName", value: .string(collection)),
            JSONField(key: "id", value: .string(id)),
            JSONField(key: "created", value: .string(RecordTimestamp.format(created))),
            JSONField(key: "updated", value: .string(RecordTimestamp.format(updated))),
            JSONField(key: "version", value: .number(String(version))),
        ]
        let document = JSONValue.object(system + fields)
        self.document = document
        self.json = JSONValue.encode(document)
    }

    /// The record's own fields as a JSON object (what the store keeps).
    package var fieldsJSON: String { JSONValue.encode(.object(fields)) }
}

extension JSONValue {
    /// `value` as compact JSON text.
    package static func encode(_ value: JSONValue) -> String {
        var buffer = ByteBuffer()
        buffer.writeJSONValue(value)
        return String(buffer: buffer)
    }

    /// Parses JSON text.
    package static func parse(_ text: String) throws -> JSONValue {
        try Array(text.utf8).withUnsafeBytes { try JSONParser.parse($0) }
    }
}
