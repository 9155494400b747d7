import BusCore
import Foundation
import NIOCore
import NIOPosix
import SchemaKit
import Storage
import Testing

@testable import BusRuntime

/// The registry on the bus (`bus.schemas`): global ids shared across subjects, versions, compatibility
/// refusals, soft and permanent deletes, references, and a restart that replays `_schemas`.
@Suite struct SchemaRegistryTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    func makeBus(_ store: (any Store)? = MemoryStore()) async throws -> Bus {
        let bus = Bus(eventLoops: Array(group.makeIterator()), store: store)
        _ = bus.streams.restore(try store?.load().streams ?? [], offsets: [])
        _ = try await bus.schemas.start()
        return bus
    }

    static let user = #"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#
    static let userWithAge =
        #"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}"#
    static let userWithRequiredAge =
        #"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}"#

    @Test func theSameSchemaHasOneIdAcrossSubjectsAndVersionsCount() async throws {
        let bus = try await makeBus()
        let first = try await bus.schemas.register(subject: "users-value", type: .avro, text: Self.user)
        // Registered again (whitespace differs): the same id, no new version.
        let again = try await bus.schemas.register(
            subject: "users-value", type: .avro, text: Self.user.replacingOccurrences(of: ",", with: ", "))
        let other = try await bus.schemas.register(subject: "other-value", type: .avro, text: Self.user)
        let second = try await bus.schemas.register(subject: "users-value", type: .avro, text: Self.userWithAge)
        #expect(first == 1 && again == 1 && other == 1 && second == 2)
        #expect(try bus.schemas.versions(subject: "users-value") == [1, 2])
        #expect(bus.schemas.latest(subject: "users-value")?.id == 2)
        #expect(bus.schemas.version(subject: "other-value", version: 1)?.id == 1)
        #expect(bus.schemas.subjects() == ["other-value", "users-value"])
        #expect(bus.schemas.subjects(prefix: "users") == ["users-value"])
        #expect(bus.schemas.schema(id: 2)?.type == .avro)
        #expect(bus.schemas.usages(id: 1).map(\.subject) == ["other-value", "users-value"])
        let found = try bus.schemas.lookup(subject: "users-value", type: .avro, text: Self.userWithAge)
        #expect(found.version == 2 && found.id == 2)
        #expect(throws: SchemaRegistryError.subjectNotFound("nobody")) {
            try bus.schemas.lookup(subject: "nobody", type: .avro, text: Self.user)
        }
        #expect(throws: SchemaRegistryError.schemaNotFound()) {
            try bus.schemas.lookup(subject: "other-value", type: .avro, text: Self.userWithAge)
        }
    }

    @Test func compatibilityLevelsRefuseAndConfigIsPerSubjectOrGlobal() async throws {
        let bus = try await makeBus()
        _ = try await bus.schemas.register(subject: "s", type: .avro, text: Self.user)
        // BACKWARD (default): a new field without a default cannot read old data.
        await #expect(throws: SchemaRegistryError.self) {
            try await bus.schemas.register(subject: "s", type: .avro, text: Self.userWithRequiredAge)
        }
        do {
            _ = try await bus.schemas.register(subject: "s", type: .avro, text: Self.userWithRequiredAge)
        } catch {
            #expect(error.code == 409 && error.httpStatus == 409)
        }
        #expect(
            try !bus.schemas.incompatibilities(
                subject: "s", version: nil, latest: true, type: .avro, text: Self.userWithRequiredAge, references: []
            ).isEmpty)
        _ = try await Self.wait { bus.schemas.setCompatibility(.none, subject: "s", completion: $0) }
        #expect(bus.schemas.compatibility(subject: "s") == CompatibilityLevel.none)
        #expect(bus.schemas.compatibility(subject: nil) == .backward)
        #expect(try await bus.schemas.register(subject: "s", type: .avro, text: Self.userWithRequiredAge) == 2)
        let previous = try await Self.wait { bus.schemas.deleteCompatibility(subject: "s", completion: $0) }
        #expect(previous == CompatibilityLevel.none)
        #expect(bus.schemas.compatibility(subject: "s") == nil)
        _ = try await Self.wait { bus.schemas.setCompatibility(.full, subject: nil, completion: $0) }
        #expect(bus.schemas.effectiveCompatibility(subject: "s") == .full)
        // Another type than the latest is never compatible.
        await #expect(throws: SchemaRegistryError.self) {
            try await bus.schemas.register(subject: "s", type: .json, text: #"{"type":"object"}"#)
        }
        do {
            _ = try await bus.schemas.register(subject: "t", type: .avro, text: #"{"type":"nothing"}"#)
            Issue.record("an invalid schema was registered")
        } catch {
            #expect(error.code == 42201)
        }
    }

    @Test func softAndPermanentDeletesAsConfluent() async throws {
        let bus = try await makeBus()
        _ = try await bus.schemas.register(subject: "s", type: .avro, text: Self.user)
        _ = try await bus.schemas.register(subject: "s", type: .avro, text: Self.userWithAge)
        // Permanent before soft: 40407; soft twice: 40406.
        await Self.expectCode(40407) {
            bus.schemas.deleteVersion(subject: "s", version: 1, permanent: true, completion: $0)
        }
        #expect(
            try await Self.wait {
                bus.schemas.deleteVersion(subject: "s", version: 1, permanent: false, completion: $0)
            } == 1)
        await Self.expectCode(40406) {
            bus.schemas.deleteVersion(subject: "s", version: 1, permanent: false, completion: $0)
        }
        #expect(try bus.schemas.versions(subject: "s") == [2])
        #expect(try bus.schemas.versions(subject: "s", deleted: true) == [1, 2])
        // A soft-deleted version's id still resolves (consumers read old records).
        #expect(bus.schemas.schema(id: 1) != nil)
        await Self.expectCode(40405) { bus.schemas.deleteSubject(subject: "s", permanent: true, completion: $0) }
        #expect(
            try await Self.wait { bus.schemas.deleteSubject(subject: "s", permanent: false, completion: $0) } == [2])
        await Self.expectCode(40404) { bus.schemas.deleteSubject(subject: "s", permanent: false, completion: $0) }
        #expect(bus.schemas.subjects() == [] && bus.schemas.subjects(deleted: true) == ["s"])
        #expect(
            try await Self.wait { bus.schemas.deleteSubject(subject: "s", permanent: true, completion: $0) } == [1, 2])
        #expect(bus.schemas.subjects(deleted: true) == [] && bus.schemas.schema(id: 1) == nil)
        await Self.expectCode(40401) { bus.schemas.deleteSubject(subject: "s", permanent: false, completion: $0) }
        // The same schema registered again gets its old id back, as version 1.
        #expect(try await bus.schemas.register(subject: "s", type: .avro, text: Self.userWithAge) == 2)
        #expect(try bus.schemas.versions(subject: "s") == [1])
    }

    @Test func referencesResolveAndKeepTheirTargetFromBeingDeleted() async throws {
        let bus = try await makeBus()
        let address =
            #"{"type":"record","name":"Address","namespace":"acme","fields":[{"name":"city","type":"string"}]}"#
        let person =
            #"{"type":"record","name":"Person","namespace":"acme","fields":[{"name":"home","type":"acme.Address"}]}"#
        _ = try await bus.schemas.register(subject: "address", type: .avro, text: address)
        let reference = SchemaReference(name: "acme.Address", subject: "address", version: 1)
        let id = try await bus.schemas.register(subject: "person", type: .avro, text: person, references: [reference])
        #expect(try bus.schemas.referencedBy(subject: "address", version: 1) == [id])
        await Self.expectCode(42206) {
            bus.schemas.deleteVersion(subject: "address", version: 1, permanent: false, completion: $0)
        }
        // Without the reference the schema does not parse.
        await #expect(throws: SchemaRegistryError.self) {
            try await bus.schemas.register(subject: "person2", type: .avro, text: person)
        }
    }

    @Test func aRestartReplaysTheSchemasStream() async throws {
        let store = MemoryStore()
        var bus = try await makeBus(store)
        _ = try await bus.schemas.register(subject: "a", type: .avro, text: Self.user)
        _ = try await bus.schemas.register(subject: "a", type: .avro, text: Self.userWithAge)
        _ = try await bus.schemas.register(
            subject: "j", type: .json, text: #"{"type":"object","properties":{"x":{"type":"integer"}}}"#)
        _ = try await bus.schemas.register(
            subject: "p", type: .protobuf, text: #"syntax = "proto3"; message M { string name = 1; }"#)
        _ = try await Self.wait { bus.schemas.setCompatibility(.forwardTransitive, subject: "a", completion: $0) }
        _ = try await Self.wait { bus.schemas.setCompatibility(.full, subject: nil, completion: $0) }
        _ = try await Self.wait {
            bus.schemas.deleteVersion(subject: "a", version: 1, permanent: false, completion: $0)
        }

        bus = try await makeBus(store)
        #expect(bus.schemas.subjects() == ["a", "j", "p"])
        #expect(try bus.schemas.versions(subject: "a") == [2])
        #expect(try bus.schemas.versions(subject: "a", deleted: true) == [1, 2])
        #expect(bus.schemas.compatibility(subject: "a") == .forwardTransitive)
        #expect(bus.schemas.compatibility(subject: nil) == .full)
        #expect(bus.schemas.latest(subject: "p")?.id == 4 && bus.schemas.schema(id: 3)?.type == .json)
        // Ids continue after the highest replayed one.
        #expect(try await bus.schemas.register(subject: "b", type: .avro, text: #""string""#) == 5)
        // The log is an ordinary stream of the store, holding one record per change.
        #expect(bus.streams.stream(named: SchemaRegistry.streamName)?.info.messages == 8)
    }

    /// The same replay on SQLite: the registry's records are ordinary stream rows, so no table of its own.
    @Test func aRestartOnSQLiteReplaysTheSchemasStream() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString).db")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var store = try SQLiteStore(path: path)
        var bus = try await makeBus(store)
        let id = try await bus.schemas.register(subject: "s", type: .avro, text: Self.user)
        _ = try await Self.wait { bus.schemas.setCompatibility(.full, subject: "s", completion: $0) }
        store.close()

        store = try SQLiteStore(path: path)
        bus = try await makeBus(store)
        #expect(bus.schemas.latest(subject: "s")?.id == id)
        #expect(bus.schemas.compatibility(subject: "s") == .full)
        store.close()
    }

    @Test func writesAreSerializedSoConcurrentRegistrationsGetDistinctVersions() async throws {
        let bus = try await makeBus()
        _ = try await Self.wait { bus.schemas.setCompatibility(.none, subject: "many", completion: $0) }
        let ids = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for index in 0..<20 {
                tasks.addTask {
                    try await bus.schemas.register(
                        subject: "many", type: .avro, text: #"{"type":"enum","name":"E","symbols":["S\#(index)"]}"#)
                }
            }
            return try await tasks.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(ids == Set(1...20))
        #expect(try bus.schemas.versions(subject: "many") == Array(1...20))
    }

    /// The bytes Tests/Interop/test_schema_registry.py hands to fastavro (`SCHEMAKIT_AVRO_BYTES`): what
    /// `ParsedSchema.serialize` writes for a record of a schema registered here, framed with its id.
    @Test func avroBytesAreConfluentFramed() async throws {
        let bus = try await makeBus()
        let id = try await bus.schemas.register(subject: "framed", type: .avro, text: Self.userWithAge)
        let schema = try #require(bus.schemas.schema(id: id))
        let record = JSONValue.object([
            JSONField(key: "name", value: .string("ada")), JSONField(key: "age", value: .number("36")),
        ])
        let bytes = try schema.schema.serialize(record, schemaID: UInt32(id))
        #expect(bytes == [0x00, 0x00, 0x00, 0x00, 0x01, 0x06, 0x61, 0x64, 0x61, 0x48])
    }

    @Test func errorCodesMapToConfluentStatuses() {
        #expect(SchemaRegistryError.subjectNotFound("x").httpStatus == 404)
        #expect(SchemaRegistryError.invalidVersion("0").httpStatus == 422)
        #expect(SchemaRegistryError.store("x").httpStatus == 500)
        #expect(SchemaRegistryError(code: 409, message: "").httpStatus == 409)
    }

    // MARK: - Helpers

    static func wait<Value: Sendable>(
        _ start: (@escaping @Sendable (Result<Value, SchemaRegistryError>) -> Void) -> Void
    ) async throws -> Value {
        try await withCheckedContinuation { continuation in start { continuation.resume(returning: $0) } }.get()
    }

    static func expectCode<Value: Sendable>(
        _ code: Int, _ start: (@escaping @Sendable (Result<Value, SchemaRegistryError>) -> Void) -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let result = await withCheckedContinuation { continuation in start { continuation.resume(returning: $0) } }
        switch result {
        case .success: Issue.record("expected error \(code), got success", sourceLocation: sourceLocation)
        case .failure(let error): #expect(error.code == code, sourceLocation: sourceLocation)
        }
    }
}
