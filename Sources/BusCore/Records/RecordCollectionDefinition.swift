package import NIOCore

/// What a record collection is (issue 20, docs/records.md): its name, the JSON Schema its records' fields
/// must satisfy, and an access rule per action in PocketBase's filter language — `nil` lets only admins
/// act, `""` everyone, anything else whoever the expression holds for.
package struct RecordCollectionDefinition: Sendable, Hashable {
    /// The actions a rule governs, with their JSON member names (PocketBase's).
    package enum Action: String, Sendable, CaseIterable {
        case list = "listRule"
        case view = "viewRule"
        case create = "createRule"
        case update = "updateRule"
        case delete = "deleteRule"
    }

    package var name: String
    /// A JSON Schema (draft 2020-12) for the record's own fields, as an object; nil accepts any object.
    package var schema: JSONValue?
    /// Per action: nil (admins only), "" (everyone) or a filter expression.
    package var rules: [Action: String]

    package init(name: String, schema: JSONValue? = nil, rules: [Action: String] = [:]) {
        self.name = name
        self.schema = schema
        self.rules = rules
    }

    /// A collection name: a letter or `_`, then letters, digits and `_` (PocketBase's), at most 64 bytes;
    /// it is a topic level (`collections/<name>/<id>`), so nothing a topic reserves.
    package static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 64, first == UInt8(ascii: "_") || isLetter(first) else {
            return false
        }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLetter($0) || (0x30...0x39).contains($0) }
    }

    /// A record id given by a client: 1–64 letters, digits, `_` or `-` (a topic level; PocketBase's own
    /// ids are 15 lowercase letters and digits, which this admits).
    package static func isValidRecordID(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 64 else { return false }
        return id.utf8.allSatisfy {
            isLetter($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    private static func isLetter(_ byte: UInt8) -> Bool { (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) }

    // MARK: - JSON (the API's shape, and what the store keeps)

    /// `{"name":…,"schema":…|null,"listRule":…|null,…}`
    package func encode(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"name\":")
        buffer.writeJSONString(name)
        buffer.writeStaticString(",\"schema\":")
        buffer.writeJSONValue(schema ?? .null)
        for action in Action.allCases {
            buffer.writeStaticString(",\"")
            buffer.writeString(action.rawValue)
            buffer.writeStaticString("\":")
            if let rule = rules[action] { buffer.writeJSONString(rule) } else { buffer.writeStaticString("null") }
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    package var json: String {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return String(buffer: buffer)
    }

    /// Reads a definition from `value`; `name` wins over a `name` member (the URL names the collection).
    /// Rules missing from `value` are nil (admins only), as PocketBase's defaults.
    package init(json value: JSONValue, name: String? = nil) throws(RecordError) {
        guard case .object = value else { throw .badRequest("a collection must be a JSON object") }
        guard let name = name ?? value["name"]?.stringValue else {
            throw .invalidField("name", "Missing required value.")
        }
        guard Self.isValidName(name) else {
            throw .invalidField(
                "name", "Invalid collection name: letters, digits and _ (at most 64), not starting with a digit.")
        }
        var rules: [Action: String] = [:]
        for action in Action.allCases {
            switch value[action.rawValue] {
            case nil, .null?: break
            case .string(let rule)?: rules[action] = rule
            default: throw .invalidField(action.rawValue, "Must be a string or null.")
            }
        }
        var schema: JSONValue?
        switch value["schema"] {
        case nil, .null?: break
        case .object?, .bool?: schema = value["schema"]
        default: throw .invalidField("schema", "Must be a JSON Schema (an object).")
        }
        self.init(name: name, schema: schema, rules: rules)
    }
}
