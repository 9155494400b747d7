import BusCore
import BusRuntime
import FrontendKit
import MCP

/// Records as resources: `switchboard://collections/<c>/<id>`, the record's JSON.
extension MCPToolbox {
    static let uriPrefix = "switchboard://collections/"

    /// The collection and id a record's URI names.
    static func recordAddress(_ uri: String) throws -> (collection: String, id: String) {
        guard uri.hasPrefix(uriPrefix) else { throw MCPError.invalidParams("not a switchboard record URI: \(uri)") }
        let parts = uri.dropFirst(uriPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw MCPError.invalidParams("a record URI is switchboard://collections/<collection>/<id>")
        }
        return (String(parts[0]), String(parts[1]))
    }

    /// Resources shown at once by `resources/list`: the first page of each collection the caller may list.
    static let listedPerCollection = 200

    func listResources(caller: MCPCaller) -> ListResources.Result {
        var resources: [Resource] = []
        var query = RecordListQuery()
        query.perPage = Self.listedPerCollection
        query.skipTotal = true
        for definition in bus.records.definitions {
            // A collection whose list rule refuses the caller is left out, as the HTTP API would refuse it.
            guard
                let page = try? bus.records.list(
                    definition.name, query: query, caller: caller.records, now: bus.clock())
            else { continue }
            for record in page.items {
                resources.append(
                    Resource(
                        name: "\(record.collection)/\(record.id)",
                        uri: Self.uriPrefix + "\(record.collection)/\(record.id)",
                        description: "Record \(record.id) of \(record.collection), version \(record.version)",
                        mimeType: "application/json"))
            }
        }
        return ListResources.Result(resources: resources)
    }

    func readResource(_ uri: String, caller: MCPCaller) throws -> ReadResource.Result {
        let (collection, id) = try Self.recordAddress(uri)
        do {
            let record = try bus.records.view(collection, id: id, caller: caller.records, now: bus.clock())
            return ReadResource.Result(contents: [.text(record.json, uri: uri, mimeType: "application/json")])
        } catch {
            throw MCPError.invalidParams(error.mcpMessage)
        }
    }
}
