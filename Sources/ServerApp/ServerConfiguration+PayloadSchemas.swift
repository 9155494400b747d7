import BusCore
package import BusRuntime
import Foundation
import SchemaKit

extension ServerConfiguration {
    /// The config file's `payload_schemas` (docs/topics.md, "Payload schemas"): an array of
    /// `{"filter": "sensors/#", "schema": …}` where `schema` is a JSON Schema (draft 2020-12) written
    /// inline (an object or a boolean) or the path of a file holding one, relative to the config file's
    /// folder. Read with our JSON parser, not `Codable`: a schema is any JSON. Every schema is parsed
    /// here, so a bad one stops start-up rather than refusing publishes later.
    mutating func apply(payloadSchemasFile data: Data, directory: URL) throws {
        let file: JSONValue
        do {
            file = try data.withUnsafeBytes { try JSONParser.parse($0) }
        } catch {
            throw ConfigurationError("config file is not valid JSON: \(error)")
        }
        guard let entries = file["payload_schemas"] else { return }
        guard case .array(let values) = entries else {
            throw ConfigurationError("payload_schemas: must be an array of {\"filter\", \"schema\"} rules")
        }
        var rules: [PayloadSchemas.Rule] = []
        for (index, value) in values.enumerated() {
            let key = "payload_schemas[\(index)]"
            guard case .string(let filterText)? = value["filter"] else {
                throw ConfigurationError("\(key).filter: must be a topic filter string")
            }
            let filter = try Self.filter(filterText, key: "\(key).filter")
            guard filter.shareGroup == nil else {
                throw ConfigurationError("\(key).filter: a shared filter ($share/…) names subscribers, not topics")
            }
            let document: JSONValue
            switch value["schema"] {
            case .string(let path)?:
                document = try Self.schemaDocument(atPath: path, directory: directory, key: "\(key).schema")
            case let inline?:
                document = inline
            case nil:
                throw ConfigurationError("\(key).schema: missing (an inline JSON Schema or a file path)")
            }
            do {
                rules.append(PayloadSchemas.Rule(filter: filter, schema: try JSONSchema(json: document)))
            } catch {
                throw ConfigurationError("\(key).schema: not a valid JSON Schema: \(error)")
            }
        }
        payloadSchemas = PayloadSchemas(rules: rules)
    }

    private static func schemaDocument(atPath path: String, directory: URL, key: String) throws -> JSONValue {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigurationError("\(key): cannot read \(url.path): \(error.localizedDescription)")
        }
        do {
            return try data.withUnsafeBytes { try JSONParser.parse($0) }
        } catch {
            throw ConfigurationError("\(key): \(url.path) is not JSON: \(error)")
        }
    }
}
