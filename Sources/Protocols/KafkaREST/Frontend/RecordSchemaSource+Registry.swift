package import BusRuntime
package import SchemaKit

/// The server's Schema Registry (`bus.schemas`, served on its own port by the schema registry frontend)
/// as the Kafka REST frontend's schema source: a produce with `value_schema` registers under
/// `<topic>-value` as Confluent's proxy does, and `value_schema_id` and consumers read by id. The
/// registry's refusals (`SchemaRegistryError`, with its code) go to the proxy as they are.
package struct RegistrySchemaSource: RecordSchemaSource {
    let registry: SchemaRegistry

    package init(registry: SchemaRegistry) { self.registry = registry }

    package func schema(id: Int) async throws -> RecordSchema? {
        registry.schema(id: id).map { RecordSchema(id: id, type: $0.type, text: $0.text) }
    }

    package func register(subject: String, type: SchemaType, text: String) async throws -> Int {
        try await registry.register(subject: subject, type: type, text: text)
    }

    package func latest(subject: String) async throws -> RecordSchema? {
        registry.latest(subject: subject).map { RecordSchema(id: $0.id, type: $0.type, text: $0.text) }
    }

    package func version(subject: String, id: Int) async throws -> Int? {
        registry.usages(id: id).last { $0.subject == subject }?.version
    }
}
