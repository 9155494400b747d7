import BusCore
import NIOConcurrencyHelpers
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

    @Test func orderedIDsHavePocketBasesShapeAndRiseWithinAndAcrossMilliseconds() {
        let alphabet = Set("abcdefghijklmnopqrstuvwxyz0123456789")
        let time = NIOLockedValueBox<UInt64>(1_765_000_000_000)
        let generator = RecordIDGenerator(clock: { time.withLockedValue { $0 } })
        var ids: [String] = []
        for step in 0..<3_000 {
            // Many ids per millisecond, then a step forward, then the clock going back a second.
            if step % 500 == 499 { time.withLockedValue { $0 += 1 } }
            if step == 2_000 { time.withLockedValue { $0 -= 1_000 } }
            ids.append(generator.next())
        }
        for id in ids { #expect(id.count == 15 && id.allSatisfy(alphabet.contains)) }
        // Byte order is creation order (the store's key), even when the clock goes back.
        #expect(zip(ids, ids.dropFirst()).allSatisfy { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        // The first eight characters are the time in base 36 since 2020-01-01.
        let time36 = String(1_765_000_000_000 - 1_577_836_800_000, radix: 36)
        #expect(ids[0].prefix(8) == String(repeating: "0", count: 8 - time36.count) + time36)
        #expect(RecordIDGenerator.id(milliseconds: 0, counter: 0) == "000000000000000")
        #expect(
            RecordIDGenerator.id(milliseconds: 35, counter: RecordIDGenerator.counterRange - 1) == "0000000zzzzzzzz")
        #expect(
            Array(RecordIDGenerator.id(milliseconds: 7, counter: RecordIDGenerator.counterRange - 1).utf8)
                .lexicographicallyPrecedes(Array(RecordIDGenerator.id(milliseconds: 8, counter: 0).utf8)))
    }
}
