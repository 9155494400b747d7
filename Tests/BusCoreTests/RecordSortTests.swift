import BusCore
import SwitchboardTestSupport
import Testing

/// PocketBase's `sort` parameter, ordered as SQLite's ORDER BY, ties broken by `id`.
@Suite struct RecordSortTests {
    static let records = [
        #"{"id":"c","title":"beta","rank":2,"meta":{"level":1}}"#,
        #"{"id":"a","title":"alpha","rank":2,"meta":{"level":3}}"#,
        #"{"id":"b","title":"Gamma","rank":10}"#,
        #"{"id":"d","title":null,"rank":"text"}"#,
        #"{"id":"e","rank":1.5}"#,
    ].map(RecordFilterTests.json)

    func ids(_ sort: String) throws -> [String] {
        let parsed = try RecordSort(parsing: sort)
        return Self.records.sorted(by: parsed.areInIncreasingOrder).map { $0["id"]?.stringValue ?? "?" }
    }

    @Test func ordersAsSQLite() throws {
        // Numbers numerically and before texts; null (or missing) first; then id.
        #expect(try ids("rank") == ["e", "a", "c", "b", "d"])
        #expect(try ids("-rank") == ["d", "b", "a", "c", "e"])
        #expect(try ids("+rank,-id") == ["e", "c", "a", "b", "d"])
        // Texts by bytes: uppercase before lowercase.
        #expect(try ids("title") == ["d", "e", "b", "a", "c"])
        #expect(try ids(" -meta.level , id ") == ["a", "c", "b", "d", "e"])
        #expect(try ids("") == ["a", "b", "c", "d", "e"])
    }

    @Test func parsesFieldsAndReportsThem() throws {
        let sort = try RecordSort(parsing: "-created,title,+id,meta.level")
        #expect(sort.fields.map(\.descending) == [true, false, false, false])
        #expect(sort.referencedFields == ["created", "title", "id", "meta.level"])
        #expect(!sort.isRandom)
    }

    @Test func randomUsesTheInjectedSource() throws {
        let sort = try RecordSort(parsing: "@random")
        #expect(sort.isRandom && sort.referencedFields.isEmpty)
        var first = SplitMix(state: 7)
        var second = SplitMix(state: 7)
        let once = sort.sorted(Self.records, using: &first)
        #expect(once == sort.sorted(Self.records, using: &second))
        #expect(Set(once.compactMap { $0["id"]?.stringValue }) == ["a", "b", "c", "d", "e"])
        var third = SplitMix(state: 8)
        let orders = (0..<8).map { _ in sort.sorted(Self.records, using: &third).map { $0["id"]?.stringValue ?? "" } }
        #expect(Set(orders).count > 1)
    }

    @Test func refusesWhatIsNotAField() {
        func error(_ text: String) -> RecordFilterError? {
            do {
                _ = try RecordSort(parsing: text)
                return nil
            } catch {
                return error
            }
        }
        #expect(
            error("title,,id")
                == RecordFilterError(
                    .sort, "invalid sort field an empty field; expected a name such as -created", at: 6))
        #expect(error("title, -a b")?.offset == 7)
        #expect(error("@rowid")?.message.hasPrefix("invalid sort field \"@rowid\"") == true)
        #expect(error("1abc") != nil)
        #expect(error("a.") != nil)
        #expect(error("lower(title)") != nil)
        #expect(error("a,b,c,d,e,f,g,h") == nil)
        #expect(error("a,b,c,d,e,f,g,h,i") == RecordFilterError(.sort, "more than 8 fields", at: 16))
        #expect(error(String(repeating: "x", count: 256))?.message == "field longer than 255 bytes")
        #expect(
            error("title,,id")?.description
                == "invalid sort at 6: invalid sort field an empty field; expected a name such as -created")
    }
}
