package import SchemaKit

/// Where the Kafka REST frontend finds the schemas of the avro, jsonschema and protobuf formats: the
/// schema registry's store. The frontend asks only these three questions; without a source those
/// formats answer 50002 (the proxy's answer when its registry cannot be reached).
package protocol RecordSchemaSource: Sendable {
    /// The schema registered under `id`; nil when there is none.
    func schema(id: Int) async throws -> RecordSchema?
    /// Registers `text` (of `type`) under `subject`, or finds it when already registered there: its id.
    /// Throws the registry's refusal when the text is invalid or incompatible with the subject.
    func register(subject: String, type: SchemaType, text: String) async throws -> Int
    /// The newest schema of `subject`; nil when the subject has none.
    func latest(subject: String) async throws -> RecordSchema?
    /// The live version of `subject` that holds schema `id`; nil when none does.
    func version(subject: String, id: Int) async throws -> Int?
}

/// A registered schema: its id, type and text.
package struct RecordSchema: Sendable, Equatable {
    package var id: Int
    package var type: SchemaType
    package var text: String

    package init(id: Int, type: SchemaType, text: String) {
        self.id = id
        self.type = type
        self.text = text
    }
}
