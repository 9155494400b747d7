package import BusRuntime
package import SchemaKit

/// The server's Schema Registry (`bus.schemas`, served on its own port by the schema registry frontend)
/// as the Kafka REST frontend's schema source: a produce with `value_schema` registers under
/// `<topic>-value` as Confluent's proxy does, and `value_schema_id` and consumers read by id.
package struct RegistrySchemaSource: RecordSchemaSource {
    let registry: SchemaRegistry

    package init(registry: SchemaRegistry) { self.registry = registry }

    package func schema(id: Int) async throws -> RecordSchema? {
        registry.schema(id: id).map { RecordSchema(id: id, type: $0.type, text: $0.text) }
    }

    package func register(subject: String, type: SchemaType, text: String) async throws -> Int {
        do {
            return try await registry.register(subject: subject, type: type, text: text)
        } catch {
            // The registry's refusals in SchemaKit's terms, so the proxy answers with its own codes.
            switch error.code {
            case 409: throw SchemaError(.incompatibleSchema, error.message)
            case 42201: throw SchemaError(.invalidSchema, error.message)
            default: throw error
            }
        }
    }

    package func latest(subject: String) async throws -> RecordSchema? {
        registry.latest(subject: subject).map { RecordSchema(id: $0.id, type: $0.type, text: $0.text) }
    }
}
