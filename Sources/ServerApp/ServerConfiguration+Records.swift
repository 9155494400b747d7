import BusCore
import Foundation

extension ServerConfiguration {
    /// The config file's `collections`: each a collection definition as `POST /api/collections` takes it
    /// (`name`, `schema`, the five rules). Read with our JSON parser, not `Codable`: a schema is any JSON.
    mutating func apply(collectionsFile data: Data) throws {
        let file: JSONValue
        do {
            file = try data.withUnsafeBytes { try JSONParser.parse($0) }
        } catch {
            throw ConfigurationError("config file is not valid JSON: \(error)")
        }
        guard let entries = file["collections"] else { return }
        guard case .array(let values) = entries else {
            throw ConfigurationError("collections: must be an array of collection definitions")
        }
        var definitions: [RecordCollectionDefinition] = []
        for value in values {
            do {
                definitions.append(try RecordCollectionDefinition(json: value))
            } catch {
                throw ConfigurationError("collections: \(error)")
            }
        }
        let names = definitions.map(\.name)
        guard Set(names).count == names.count else {
            throw ConfigurationError("collections: two collections share a name")
        }
        collections = definitions
    }
}
