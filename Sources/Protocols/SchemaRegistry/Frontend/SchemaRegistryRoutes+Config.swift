import BusCore
import BusRuntime
import FrontendKit
import NIOHTTP1
import SchemaKit

extension SchemaRegistryRoutes {
    /// `/config` and `/config/{s}` (compatibility levels) and `/mode` (always READWRITE).
    func registerConfigRoutes(into router: inout HTTPRouter.Builder) {
        let registry = self.registry
        read(&router, .GET, "/config") { _, _ throws(SchemaRegistryError) in
            .json(Self.level("compatibilityLevel", registry.compatibility(subject: nil) ?? .default))
        }
        read(&router, .GET, "/config/:subject") { request, _ throws(SchemaRegistryError) in
            let subject = request.parameters["subject"]!
            if let level = registry.compatibility(subject: subject) {
                return .json(Self.level("compatibilityLevel", level))
            }
            guard SchemaRegistryHTTP.flag(request, "defaultToGlobal") else {
                throw .subjectCompatibilityNotConfigured(subject)
            }
            return .json(Self.level("compatibilityLevel", registry.effectiveCompatibility(subject: subject)))
        }
        for path in ["/config", "/config/:subject"] {
            write(&router, .PUT, path) { request, loop throws(SchemaRegistryError) in
                let level = try Self.requestedLevel(request)
                let subject = request.parameters["subject"]
                return Self.answer(
                    on: loop, { registry.setCompatibility(level, subject: subject, completion: $0) },
                    { Self.level("compatibility", $0) })
            }
            write(&router, .DELETE, path) { request, loop throws(SchemaRegistryError) in
                let subject = request.parameters["subject"]
                return Self.answer(
                    on: loop, { registry.deleteCompatibility(subject: subject, completion: $0) },
                    { Self.level("compatibilityLevel", $0) })
            }
        }
        for path in ["/mode", "/mode/:subject"] {
            read(&router, .GET, path) { _, _ throws(SchemaRegistryError) in
                .json(.object([JSONField(key: "mode", value: .string("READWRITE"))]))
            }
            // Only READWRITE is served (no IMPORT, READONLY): changing it is refused as Confluent refuses a
            // mode change when `mode.mutability` is off.
            write(&router, .PUT, path) { _, _ throws(SchemaRegistryError) in
                throw .operationNotPermitted("Mode changes are not allowed: this registry is always READWRITE")
            }
        }
    }

    static func level(_ key: String, _ level: CompatibilityLevel) -> JSONValue {
        .object([JSONField(key: key, value: .string(level.rawValue))])
    }

    /// `{"compatibility": "FULL"}` → the level; 42203 when it is not one of the seven.
    static func requestedLevel(_ request: HTTPRequest) throws(SchemaRegistryError) -> CompatibilityLevel {
        let body = try SchemaRegistryHTTP.body(request)
        guard let text = body["compatibility"]?.stringValue ?? body["compatibilityLevel"]?.stringValue else {
            throw SchemaRegistryError(
                code: 42203,
                message:
                    "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"
            )
        }
        do {
            return try CompatibilityLevel(parsing: text)
        } catch {
            throw SchemaRegistryError(
                code: 42203,
                message:
                    "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"
            )
        }
    }
}
