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
    /// Where the record's own fields start in `json`'s UTF-8 (after the system members and their comma):
    /// the stored form is that tail, so the fields are encoded once.
    private let fieldsOffset: Int

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
        let createdText = RecordTimestamp.format(created)
        var members: [JSONField] = [
            JSONField(key: "collectionId", value: .string(collection)),
            JSONField(key: "collectionName", value: .string(collection)),
            JSONField(key: "id", value: .string(id)),
            JSONField(key: "created", value: .string(createdText)),
            JSONField(
                key: "updated", value: .string(updated == created ? createdText : RecordTimestamp.format(updated))),
            JSONField(key: "version", value: .number(String(version))),
        ]
        let systemCount = members.count
        members.append(contentsOf: fields)
        // `JSONValue.encode(document)`, noting where the fields begin.
        var buffer = ByteBuffer()
        buffer.reserveCapacity(160 + collection.utf8.count * 2 + id.utf8.count)
        buffer.writeInteger(UInt8(ascii: "{"))
        var fieldsOffset = 0
        for (index, member) in members.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            if index == systemCount { fieldsOffset = buffer.writerIndex }
            buffer.writeJSONString(member.key)
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeJSONValue(member.value)
        }
        if fields.isEmpty { fieldsOffset = buffer.writerIndex }
        buffer.writeInteger(UInt8(ascii: "}"))
        self.document = .object(members)
        self.json = String(buffer: buffer)
        self.fieldsOffset = fieldsOffset
    }

    /// The record's own fields as a JSON object (what the store keeps): `json`'s tail after the system
    /// members, not a second encoding.
    package var fieldsJSON: String {
        var text = "{"
        text.append(contentsOf: Substring(json.utf8.dropFirst(fieldsOffset)))
        return text
    }
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
