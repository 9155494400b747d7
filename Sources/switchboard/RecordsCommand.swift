import ArgumentParser
import BusCore
import Foundation
import SwitchboardClient

/// `switchboard records …`: record collections' CRUD from the shell, through the HTTP API
/// (docs/records.md). Each answer is printed as the API gives it; an error status exits with 1.
struct RecordsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "records",
        abstract: "List, read, create, update and delete records of a collection through the HTTP API.",
        subcommands: [List.self, Get.self, Create.self, Update.self, Delete.self, Collections.self])

    /// Where and as whom: shared by every subcommand.
    struct Connection: ParsableArguments {
        @Option(help: "Server base URL.")
        var url: String = "http://127.0.0.1:8080"

        @Option(
            help:
                "Bearer token (a user's token or JWT, or the API key) when the server requires one (env SWITCHBOARD_TOKEN)."
        )
        var token: String?

        func send(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = [])
            async throws
        {
            var target = try SwitchboardURL(url)
            target.path = path
            var all = headers
            if let token = token ?? ProcessInfo.environmentValue("SWITCHBOARD_TOKEN") {
                all.append(("Authorization", "Bearer \(token)"))
            }
            let response = try await SwitchboardHTTPClient.request(
                method: method, url: target, headers: all, body: body)
            if !response.body.isEmpty { print(response.body) }
            if response.status >= 300 { throw ExitCode(1) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One page of a collection's records.")
        @Argument(help: "The collection.") var collection: String
        // Unconditional: a value may start with "-" (a descending sort, a negative number in a filter).
        @Option(parsing: .unconditional, help: "A filter, e.g. \"done = false && repository = 'core'\".")
        var filter: String?
        @Option(parsing: .unconditional, help: "Sort fields, e.g. -created,title.") var sort: String?
        @Option var page: Int?
        @Option(name: .customLong("per-page")) var perPage: Int?
        @OptionGroup var connection: Connection

        func run() async throws {
            var query: [String] = []
            if let filter { query.append("filter=" + RecordsCommand.encode(filter)) }
            if let sort { query.append("sort=" + RecordsCommand.encode(sort)) }
            if let page { query.append("page=\(page)") }
            if let perPage { query.append("perPage=\(perPage)") }
            let path =
                "/api/collections/\(collection)/records" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            try await connection.send("GET", path)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One record.")
        @Argument var collection: String
        @Argument var id: String
        @OptionGroup var connection: Connection
        func run() async throws { try await connection.send("GET", "/api/collections/\(collection)/records/\(id)") }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a record from a JSON object ('-': stdin).")
        @Argument var collection: String
        @Argument var fields: String = "-"
        @OptionGroup var connection: Connection
        func run() async throws {
            try await connection.send(
                "POST", "/api/collections/\(collection)/records", body: try RecordsCommand.object(fields))
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the fields a JSON object names ('-': stdin); the others stay.")
        @Argument var collection: String
        @Argument var id: String
        @Argument var fields: String = "-"
        @Option(name: .customLong("if-match"), help: "Refuse the change unless the record is at this version.")
        var ifMatch: UInt64?
        @OptionGroup var connection: Connection
        func run() async throws {
            try await connection.send(
                "PATCH", "/api/collections/\(collection)/records/\(id)", body: try RecordsCommand.object(fields),
                headers: ifMatch.map { [("If-Match", "\"\($0)\"")] } ?? [])
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a record.")
        @Argument var collection: String
        @Argument var id: String
        @Option(name: .customLong("if-match"), help: "Refuse the delete unless the record is at this version.")
        var ifMatch: UInt64?
        @OptionGroup var connection: Connection
        func run() async throws {
            try await connection.send(
                "DELETE", "/api/collections/\(collection)/records/\(id)",
                headers: ifMatch.map { [("If-Match", "\"\($0)\"")] } ?? [])
        }
    }

    struct Collections: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List collections, or create one from a JSON definition (admin).")
        @Argument(help: "A collection definition to create, e.g. '{\"name\":\"tasks\",\"listRule\":\"\"}'.")
        var definition: String?
        @OptionGroup var connection: Connection
        func run() async throws {
            if let definition {
                try await connection.send("POST", "/api/collections", body: try RecordsCommand.object(definition))
            } else {
                try await connection.send("GET", "/api/collections")
            }
        }
    }

    /// `text` ('-': standard input) when it is a JSON object.
    static func object(_ text: String) throws -> String {
        var json = text
        if json == "-" {
            var lines: [String] = []
            while let line = readLine(strippingNewline: false) { lines.append(line) }
            json = lines.joined()
        }
        guard case .object? = try? Array(json.utf8).withUnsafeBytes({ try JSONParser.parse($0) }) else {
            throw ValidationError("the fields must be a JSON object")
        }
        return json
    }

    /// Percent-encodes a query parameter value.
    static func encode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
