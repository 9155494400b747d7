import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOHTTP1
import SchemaKit

extension SchemaRegistryRoutes {
    /// `/subjects…`: list, register, look up, versions, their schemas and referrers, deletes.
    func registerSubjectRoutes(into router: inout HTTPRouter.Builder) {
        let registry = self.registry
        read(&router, .GET, "/subjects") { request, _ throws(SchemaRegistryError) in
            let subjects = registry.subjects(
                deleted: SchemaRegistryHTTP.flag(request, "deleted"), prefix: request.query("subjectPrefix"))
            return .json(.array(subjects.map { .string($0) }))
        }
        read(&router, .GET, "/subjects/:subject/versions") { request, _ throws(SchemaRegistryError) in
            let versions = try registry.versions(
                subject: request.parameters["subject"]!, deleted: SchemaRegistryHTTP.flag(request, "deleted"))
            return .json(.array(versions.map(SchemaRegistryHTTP.number)))
        }
        write(&router, .POST, "/subjects/:subject/versions") { request, loop throws(SchemaRegistryError) in
            let schema = try SchemaRegistryHTTP.schemaRequest(SchemaRegistryHTTP.body(request))
            let subject = request.parameters["subject"]!
            let normalize = SchemaRegistryHTTP.flag(request, "normalize")
            return Self.answer(
                on: loop,
                { done in
                    registry.register(
                        subject: subject, type: schema.type, text: schema.text, references: schema.references,
                        normalize: normalize, completion: done)
                }, { id in .object([JSONField(key: "id", value: SchemaRegistryHTTP.number(id))]) })
        }
        read(&router, .POST, "/subjects/:subject") { request, _ throws(SchemaRegistryError) in
            let schema = try SchemaRegistryHTTP.schemaRequest(SchemaRegistryHTTP.body(request))
            let found = try registry.lookup(
                subject: request.parameters["subject"]!, type: schema.type, text: schema.text,
                references: schema.references, deleted: SchemaRegistryHTTP.flag(request, "deleted"))
            return .json(SchemaRegistryHTTP.schemaObject(found))
        }
        read(&router, .GET, "/subjects/:subject/versions/:version") { request, _ throws(SchemaRegistryError) in
            .json(SchemaRegistryHTTP.schemaObject(try Self.version(request, registry)))
        }
        read(&router, .GET, "/subjects/:subject/versions/:version/schema") { request, _ throws(SchemaRegistryError) in
            .text(try Self.version(request, registry).text)
        }
        read(&router, .GET, "/subjects/:subject/versions/:version/referencedby") {
            request, _ throws(SchemaRegistryError) in
            let subject = request.parameters["subject"]!
            var version = try SchemaRegistryHTTP.version(request.parameters["version"])
            if version == nil { version = try Self.version(request, registry).version }
            let ids = try registry.referencedBy(subject: subject, version: version!)
            return .json(.array(ids.map(SchemaRegistryHTTP.number)))
        }
        write(&router, .DELETE, "/subjects/:subject") { request, loop throws(SchemaRegistryError) in
            let subject = request.parameters["subject"]!
            let permanent = SchemaRegistryHTTP.flag(request, "permanent")
            return Self.answer(
                on: loop, { registry.deleteSubject(subject: subject, permanent: permanent, completion: $0) },
                { .array($0.map(SchemaRegistryHTTP.number)) })
        }
        write(&router, .DELETE, "/subjects/:subject/versions/:version") { request, loop throws(SchemaRegistryError) in
            let subject = request.parameters["subject"]!
            let version = try SchemaRegistryHTTP.version(request.parameters["version"])
            let permanent = SchemaRegistryHTTP.flag(request, "permanent")
            return Self.answer(
                on: loop,
                { registry.deleteVersion(subject: subject, version: version, permanent: permanent, completion: $0) },
                SchemaRegistryHTTP.number)
        }
    }

    /// The version a `/subjects/{s}/versions/{v}` path names: 42202 for a malformed version, 40401 for a
    /// subject without versions, 40402 for a version it does not have (soft-deleted ones count with
    /// `?deleted=true`).
    static func version(_ request: HTTPRequest, _ registry: SchemaRegistry) throws(SchemaRegistryError)
        -> RegisteredSchema
    {
        let subject = request.parameters["subject"]!
        let number = try SchemaRegistryHTTP.version(request.parameters["version"])
        let deleted = SchemaRegistryHTTP.flag(request, "deleted")
        let versions = try registry.versions(subject: subject, deleted: true)
        if let number {
            guard let found = registry.version(subject: subject, version: number, deleted: deleted) else {
                throw .versionNotFound(number)
            }
            return found
        }
        let latest =
            deleted
            ? versions.last.flatMap { registry.version(subject: subject, version: $0, deleted: true) }
            : registry.latest(subject: subject)
        guard let latest else { throw .subjectNotFound(subject) }
        return latest
    }
}
