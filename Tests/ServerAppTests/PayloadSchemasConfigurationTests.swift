import BusCore
import BusRuntime
import Foundation
import NIOCore
import Testing

@testable import ServerApp

@Suite struct PayloadSchemasConfigurationTests {
    private func load(_ json: String, files: [String: String] = [:]) throws -> ServerConfiguration {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, text) in files { try Data(text.utf8).write(to: directory.appendingPathComponent(name)) }
        let file = directory.appendingPathComponent("config.json")
        try Data(json.utf8).write(to: file)
        var overrides = ConfigurationOverrides()
        overrides.configFile = file.path
        return try ServerConfiguration.load(overrides: overrides, environment: [:])
    }

    @Test func inlineAndFileSchemasAreRead() throws {
        let configuration = try load(
            #"{"payload_schemas": [{"filter": "sensors/#", "schema": {"type": "object"}}, {"filter": "orders/+", "schema": "order.json"}]}"#,
            files: ["order.json": #"{"required": ["id"]}"#])
        let schemas = configuration.payloadSchemas
        #expect(schemas.rules.map(\.filter.text) == ["sensors/#", "orders/+"])
        #expect(schemas.check(try Topic("sensors/a"), payload: ByteBuffer(string: "[]"), contentType: nil) != nil)
        #expect(schemas.check(try Topic("orders/1"), payload: ByteBuffer(string: "{}"), contentType: nil) != nil)
        #expect(
            schemas.check(try Topic("orders/1"), payload: ByteBuffer(string: #"{"id":1}"#), contentType: nil) == nil)
    }

    @Test func noKeyMeansNoRules() throws {
        #expect(try load("{}").payloadSchemas.isEmpty)
    }

    @Test func badRulesStopStartUp() throws {
        let bad = [
            #"{"payload_schemas": {"filter": "a"}}"#,
            #"{"payload_schemas": [{"schema": {}}]}"#,
            #"{"payload_schemas": [{"filter": "a/#/b", "schema": {}}]}"#,
            #"{"payload_schemas": [{"filter": "$share/g/a", "schema": {}}]}"#,
            #"{"payload_schemas": [{"filter": "a"}]}"#,
            #"{"payload_schemas": [{"filter": "a", "schema": 3}]}"#,
            ##"{"payload_schemas": [{"filter": "a", "schema": {"$ref": "#/nowhere"}}]}"##,
            #"{"payload_schemas": [{"filter": "a", "schema": "missing.json"}]}"#,
        ]
        for json in bad {
            #expect(throws: ConfigurationError.self, "\(json)") { try load(json) }
        }
    }
}
