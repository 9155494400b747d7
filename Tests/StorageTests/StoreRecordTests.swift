import Testing

@testable import Storage

/// Record collections in every store (memory, SQLite, PostgreSQL): definitions, records with their system
/// fields and JSON text kept byte for byte, replacement by a newer version, deletes, and a collection's
/// delete taking its records, across a restart.
extension StoreTests {
    static func record(_ collection: String, _ id: String, version: UInt64 = 1, fields: String) -> StoredRecord {
        StoredRecord(
            collection: collection, id: id, version: version, created: 1_000 + version, updated: 2_000 + version,
            fields: fields)
    }

    @Test(arguments: Kind.allCases) func recordsSurviveWithVersionsAndExactFields(kind: Kind) async throws {
        let harness = try Harness(kind)
        let definition = #"{"schema":null,"listRule":"","viewRule":"owner = @request.auth.id"}"#
        try await harness.write([
            .saveCollection(StoredCollection(name: "tasks", definition: definition)),
            .saveCollection(StoredCollection(name: "notes", definition: "{}")),
            .saveRecord(Self.record("tasks", "b1", fields: #"{"title":"one","n":1.50,"tags":["x"]}"#)),
            .saveRecord(Self.record("tasks", "a2", fields: #"{"title":"two \u00e9"}"#)),
            .saveRecord(Self.record("notes", "n1", fields: "{}")),
        ])
        try await harness.write([
            .saveRecord(Self.record("tasks", "b1", version: 2, fields: #"{"title":"one, again"}"#)),
            .deleteRecord(collection: "tasks", id: "a2"),
        ])
        let state = try harness.restart()
        #expect(state.collections.map(\.name) == ["notes", "tasks"])
        #expect(state.collections[1].definition == definition)
        #expect(state.records.map { "\($0.collection)/\($0.id)" } == ["notes/n1", "tasks/b1"])
        #expect(state.records[1] == Self.record("tasks", "b1", version: 2, fields: #"{"title":"one, again"}"#))
    }

    @Test(arguments: Kind.allCases) func aDeletedCollectionTakesItsRecordsAndKeepsNoLateOnes(kind: Kind) async throws {
        let harness = try Harness(kind)
        try await harness.write([
            .saveCollection(StoredCollection(name: "tasks", definition: "{}")),
            .saveRecord(Self.record("tasks", "r1", fields: #"{"a":1}"#)),
            .saveCollection(StoredCollection(name: "keep", definition: "{}")),
            .saveRecord(Self.record("keep", "k1", fields: #"{"a":2}"#)),
        ])
        // A write that was queued before the collection's delete lands after it: nothing comes back.
        try await harness.write([
            .deleteCollection(name: "tasks"), .saveRecord(Self.record("tasks", "late", fields: "{}")),
        ])
        let state = try harness.restart()
        #expect(state.collections.map(\.name) == ["keep"])
        #expect(state.records.map(\.id) == ["k1"])
    }
}
