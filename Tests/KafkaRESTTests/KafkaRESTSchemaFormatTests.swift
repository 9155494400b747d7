import BusCore
import BusRuntime
import KafkaRESTFrontend
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import SchemaKit
import Testing

/// The schema formats (avro, jsonschema, protobuf) against an in-memory `RecordSchemaSource`, the
/// registry's stand-in: produce with `value_schema` (registered under `<topic>-value`) or
/// `value_schema_id`, consume as JSON, and the proxy's codes when a schema or record is refused.
@Suite struct KafkaRESTSchemaFormatTests {
    /// Schemas by id and subject, as a registry keeps them (one id per distinct text).
    final class MemorySchemaSource: RecordSchemaSource {
        private let state = NIOLockedValueBox<(schemas: [RecordSchema], subjects: [String: [Int]])>(([], [:]))

        func schema(id: Int) async throws -> RecordSchema? {
            state.withLockedValue { $0.schemas.first { $0.id == id } }
        }

        func register(subject: String, type: SchemaType, text: String) async throws -> Int {
            _ = try ParsedSchema(type: type, text: text)
            return state.withLockedValue { state in
                if let found = state.schemas.first(where: { $0.type == type && $0.text == text }) {
                    if !(state.subjects[subject] ?? []).contains(found.id) {
                        state.subjects[subject, default: []].append(found.id)
                    }
                    return found.id
                }
                let id = state.schemas.count + 1
                state.schemas.append(RecordSchema(id: id, type: type, text: text))
                state.subjects[subject, default: []].append(id)
                return id
            }
        }

        func latest(subject: String) async throws -> RecordSchema? {
            state.withLockedValue { state in
                state.subjects[subject]?.last.flatMap { id in state.schemas.first { $0.id == id } }
            }
        }

        func version(subject: String, id: Int) async throws -> Int? {
            state.withLockedValue { $0.subjects[subject]?.firstIndex(of: id).map { $0 + 1 } }
        }
    }

    typealias Harness = KafkaRESTRouteTests.Harness

    static let user =
        #"{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"age\",\"type\":\"int\"}]}"#

    @Test func avroProducedWithASchemaIsConsumedAsJSON() async throws {
        let source = MemorySchemaSource()
        let harness = Harness(schemas: source)
        let avro = "application/vnd.kafka.avro.v2+json"
        let produced = try await harness.call(
            .POST, "/topics/users", type: avro,
            body: #"{"value_schema":"\#(Self.user)","records":[{"value":{"name":"ada","age":36}}]}"#)
        #expect(produced.status == 200, "\(produced.text)")
        #expect(produced.json?["value_schema_id"]?.intValue == 1)
        #expect(try await source.latest(subject: "users-value")?.id == 1)
        let byID = try await harness.call(
            .POST, "/topics/users", type: avro,
            body: #"{"value_schema_id":1,"records":[{"value":{"name":"alan","age":41}}]}"#)
        #expect(byID.json?["offsets"]?.arrayValue?.first?["offset"]?.intValue == 1)
        // Stored in Confluent's wire format: magic byte 0, schema id 1.
        let stored = try harness.bus.streams.read("users", partition: 0, from: 1)
        #expect(Array(stored.records[0].record.message.payload.readableBytesView.prefix(5)) == [0, 0, 0, 0, 1])

        _ = try await harness.consumer("g", #"{"name":"c","format":"avro","auto.offset.reset":"earliest"}"#)
        _ = try await harness.call(
            .POST, "/consumers/g/instances/c/subscription", type: Harness.v2, body: #"{"topics":["users"]}"#)
        let records = try await harness.records("g", "c", accept: avro)
        #expect(records.contentType == avro)
        let values = records.json?.arrayValue?.compactMap { $0["value"] } ?? []
        #expect(values.first?["name"]?.stringValue == "ada")
        #expect(values.last?["age"]?.intValue == 41)
        try await harness.shutdown()
    }

    @Test func schemaRefusalsHaveTheProxyCodes() async throws {
        let harness = Harness(schemas: MemorySchemaSource())
        let avro = "application/vnd.kafka.avro.v2+json"
        let noSchema = try await harness.call(
            .POST, "/topics/users", type: avro, body: #"{"records":[{"value":{"a":1}}]}"#)
        #expect(noSchema.status == 422 && noSchema.errorCode == 42202)
        let keyNoSchema = try await harness.call(
            .POST, "/topics/users", type: avro,
            body: #"{"value_schema":"\"string\"","records":[{"key":"k","value":"v"}]}"#)
        #expect(keyNoSchema.errorCode == 42201)
        let invalid = try await harness.call(
            .POST, "/topics/users", type: avro, body: #"{"value_schema":"{\"type\":\"nope\"}","records":[{"value":1}]}"#
        )
        #expect(invalid.status == 422 && invalid.errorCode == 42205)
        let unfit = try await harness.call(
            .POST, "/topics/users", type: avro,
            body: #"{"value_schema":"\#(Self.user)","records":[{"value":{"name":"ada"}}]}"#)
        #expect(unfit.status == 422 && unfit.errorCode == 42203)
        // The registry has no schema 99, and `users-value` does not hold schema 2 (`other-value` does):
        // kafka-rest's 42207 for both.
        let unknownID = try await harness.call(
            .POST, "/topics/users", type: avro, body: #"{"value_schema_id":99,"records":[{"value":1}]}"#)
        #expect(unknownID.status == 422 && unknownID.errorCode == 42207, "\(unknownID.text)")
        let other = try await harness.call(
            .POST, "/topics/other", type: avro, body: #"{"value_schema":"\"string\"","records":[{"value":"v"}]}"#)
        #expect(other.json?["value_schema_id"]?.intValue == 2, "\(other.text)")
        let notTheSubjects = try await harness.call(
            .POST, "/topics/users", type: avro, body: #"{"value_schema_id":2,"records":[{"value":"v"}]}"#)
        #expect(notTheSubjects.status == 422 && notTheSubjects.errorCode == 42207, "\(notTheSubjects.text)")
        try await harness.shutdown()
    }

    @Test func jsonSchemaAndProtobufRoundTrip() async throws {
        let harness = Harness(schemas: MemorySchemaSource())
        let jsonSchema = #"{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},\"required\":[\"n\"]}"#
        let produced = try await harness.call(
            .POST, "/topics/js", type: "application/vnd.kafka.jsonschema.v2+json",
            body: #"{"value_schema":"\#(jsonSchema)","records":[{"value":{"n":5}}]}"#)
        #expect(produced.status == 200, "\(produced.text)")
        let refused = try await harness.call(
            .POST, "/topics/js", type: "application/vnd.kafka.jsonschema.v2+json",
            body: #"{"value_schema_id":1,"records":[{"value":{"m":5}}]}"#)
        #expect(refused.errorCode == 42203)
        let proto = #"syntax = \"proto3\"; message Point { int32 x = 1; string label = 2; }"#
        let protoProduced = try await harness.call(
            .POST, "/topics/pb", type: "application/vnd.kafka.protobuf.v2+json",
            body: #"{"value_schema":"\#(proto)","records":[{"value":{"x":3,"label":"p"}}]}"#)
        #expect(protoProduced.status == 200, "\(protoProduced.text)")
        for (topic, format) in [("js", "jsonschema"), ("pb", "protobuf")] {
            _ = try await harness.consumer(topic, #"{"name":"c","format":"\#(format)","auto.offset.reset":"earliest"}"#)
            _ = try await harness.call(
                .POST, "/consumers/\(topic)/instances/c/subscription", type: Harness.v2,
                body: #"{"topics":["\#(topic)"]}"#)
        }
        #expect(try await harness.records("js", "c").json?.arrayValue?.first?["value"]?["n"]?.intValue == 5)
        let point = try await harness.records("pb", "c").json?.arrayValue?.first?["value"]
        #expect(point?["x"]?.intValue == 3 && point?["label"]?.stringValue == "p")
        try await harness.shutdown()
    }

    /// Produce answers kafka-rest's 42206 (its `SchemaManagerThrowing`); a consumer, 50002.
    @Test func withoutASourceSchemaFormatsAnswer42206Or50002() async throws {
        let harness = Harness()
        let answer = try await harness.call(
            .POST, "/topics/users", type: "application/vnd.kafka.avro.v2+json",
            body: #"{"value_schema":"\"string\"","records":[{"value":"v"}]}"#)
        #expect(answer.status == 422 && answer.errorCode == 42206)
        _ = try await harness.consumer("g", #"{"name":"c","format":"avro"}"#)
        #expect(try await harness.records("g", "c").errorCode == 50002)
        try await harness.shutdown()
    }
}
