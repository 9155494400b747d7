import BusCore
import BusRuntime
import FrontendKit
import NIOHTTP1
import SchemaKit

extension SchemaRegistryRoutes {
    /// `/schemas…` (by global id, the types) and `/compatibility…`.
    func registerSchemaRoutes(into router: inout HTTPRouter.Builder) {
        let registry = self.registry
        read(&router, .GET, "/schemas/types") { _, _ throws(SchemaRegistryError) in
            .json(.array(["JSON", "PROTOBUF", "AVRO"].map { .string($0) }))
        }
        read(&router, .GET, "/schemas/ids/:id") { request, _ throws(SchemaRegistryError) in
            let (_, schema) = try Self.schema(request, registry)
            var fields = SchemaRegistryHTTP.typeAndReferences(schema.type, schema.references)
            fields.insert(JSONField(key: "schema", value: .string(schema.text)), at: 0)
            return .json(.object(fields))
        }
        read(&router, .GET, "/schemas/ids/:id/schema") { request, _ throws(SchemaRegistryError) in
            .text(try Self.schema(request, registry).1.text)
        }
        read(&router, .GET, "/schemas/ids/:id/versions") { request, _ throws(SchemaRegistryError) in
            let (id, _) = try Self.schema(request, registry)
            return .json(
                .array(
                    registry.usages(id: id, deleted: SchemaRegistryHTTP.flag(request, "deleted")).map {
                        .object([
                            JSONField(key: "subject", value: .string($0.subject)),
                            JSONField(key: "version", value: SchemaRegistryHTTP.number($0.version)),
                        ])
                    }))
        }
        read(&router, .POST, "/compatibility/subjects/:subject/versions/:version") {
            request, _ throws(SchemaRegistryError) in
            let version = try SchemaRegistryHTTP.version(request.parameters["version"])
            return try Self.compatibility(request, registry, version: version, latest: version == nil)
        }
        read(&router, .POST, "/compatibility/subjects/:subject/versions") { request, _ throws(SchemaRegistryError) in
            try Self.compatibility(request, registry, version: nil, latest: false)
        }
    }

    /// The schema a `/schemas/ids/{id}` path names: 40403 when no version uses that id (or, with
    /// `?subject=`, none of that subject).
    static func schema(_ request: HTTPRequest, _ registry: SchemaRegistry) throws(SchemaRegistryError) -> (
        Int, (type: SchemaType, text: String, references: [SchemaReference])
    ) {
        guard let id = request.parameters["id"].flatMap({ Int($0) }), let schema = registry.registeredSchema(id: id)
        else { throw .schemaNotFound(request.parameters["id"].flatMap { Int($0) }) }
        if let subject = request.query("subject"),
            !registry.usages(id: id, deleted: true).contains(where: { $0.subject == subject })
        {
            throw .schemaNotFound(id)
        }
        return (id, schema)
    }

    /// `{"is_compatible": …}` (with `?verbose=true`, `messages` too) for the schema in the body against
    /// `version` (nil with `latest`: the newest; nil without: every version the subject's level compares).
    static func compatibility(
        _ request: HTTPRequest, _ registry: SchemaRegistry, version: Int?, latest: Bool
    ) throws(SchemaRegistryError) -> SchemaRegistryAnswer {
        let schema = try SchemaRegistryHTTP.schemaRequest(SchemaRegistryHTTP.body(request))
        let problems = try registry.incompatibilities(
            subject: request.parameters["subject"]!, version: version, latest: latest, type: schema.type,
            text: schema.text, references: schema.references)
        var fields = [JSONField(key: "is_compatible", value: .bool(problems.isEmpty))]
        if SchemaRegistryHTTP.flag(request, "verbose") {
            fields.append(JSONField(key: "messages", value: .array(problems.map { .string($0) })))
        }
        return .json(.object(fields))
    }
}
