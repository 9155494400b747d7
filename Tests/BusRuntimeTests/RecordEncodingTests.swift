import BusCore
import Testing

@testable import BusRuntime

/// A record's JSON is encoded once per version: the answer and event text, and the stored form taken
/// from its tail. Both must equal what encoding the values would give.
@Suite struct RecordEncodingTests {
    static let fields: [JSONField] = [
        JSONField(key: "title", value: .string("a \"quoted\" \u{e9}")),
        JSONField(key: "n", value: .number("3")),
        JSONField(key: "tags", value: .array([.string("x"), .null, .bool(true)])),
        JSONField(key: "nested", value: .object([JSONField(key: "id", value: .string("inner"))])),
    ]

    @Test func jsonAndStoredFormAreTheEncodedValues() throws {
        for fields in [Self.fields, []] {
            let record = Record(
                collection: "tasks", id: "r1", version: 7, created: 1_764_936_000_123_000_000,
                updated: 1_764_936_001_456_000_000, fields: fields)
            #expect(record.json == JSONValue.encode(record.document))
            #expect(record.fieldsJSON == JSONValue.encode(.object(fields)))
            #expect(try JSONValue.parse(record.fieldsJSON) == .object(fields))
            #expect(record.document["created"] == .string("2025-12-05 12:00:00.123Z"))
            #expect(record.document["updated"] == .string("2025-12-05 12:00:01.456Z"))
            #expect(record.document["version"] == .number("7"))
        }
    }

    @Test func timestampsOfEveryRange() {
        #expect(RecordTimestamp.format(0) == "1970-01-01 00:00:00.000Z")
        #expect(RecordTimestamp.format(951_782_400_000_000_000) == "2000-02-29 00:00:00.000Z")
        #expect(RecordTimestamp.format(.max) == "2554-07-21 23:34:33.709Z")
    }

    /// Draws the same bytes every run.
    struct CountingGenerator: RandomNumberGenerator {
        var state: UInt64 = 0
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var mixed = state
            mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
            return mixed ^ (mixed >> 31)
        }
    }

    @Test func randomIDsAreFifteenCharactersOfTheAlphabetEachAsLikely() {
        let alphabet = Set("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = CountingGenerator()
        var counts: [Character: Int] = [:]
        let ids = (0..<2_000).map { _ in RecordCollections.randomID(using: &generator) }
        for id in ids {
            #expect(id.count == 15 && id.allSatisfy(alphabet.contains))
            for character in id { counts[character, default: 0] += 1 }
        }
        #expect(Set(ids).count == ids.count)
        // 30,000 characters: ~833 of each; every one of the 36 within 20% of that.
        #expect(counts.count == 36)
        #expect(counts.values.allSatisfy { (667...1_000).contains($0) })
        #expect(RecordCollections.randomID().count == 15)
    }
}
