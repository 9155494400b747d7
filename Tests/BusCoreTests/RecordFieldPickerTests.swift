import BusCore
import NIOCore
import SwitchboardTestSupport
import Testing

@Suite struct RecordFieldPickerTests {
    private func pick(_ fields: String, _ json: String) throws -> String {
        let value = try Array(json.utf8).withUnsafeBytes { try JSONParser.parse($0) }
        var buffer = ByteBuffer()
        buffer.writeJSONValue(try RecordFieldPicker(fields).pick(value))
        return String(buffer: buffer)
    }

    @Test func pathsKeepTheirKeysInTheRecordsOrder() throws {
        let record = #"{"a":1,"b":2,"c":{"c1":11,"c2":22}}"#
        #expect(try pick("a,c.c1", record) == #"{"a":1,"c":{"c1":11}}"#)
        #expect(try pick(" c.c1 , a ", record) == #"{"a":1,"c":{"c1":11}}"#)
        #expect(try pick("c", record) == #"{"c":{"c1":11,"c2":22}}"#)
        #expect(try pick("nothing,a.deeper", record) == #"{"a":1}"#)
    }

    @Test func aStarKeepsEveryKeyNoOtherPathNames() throws {
        let record = #"{"a":1,"b":2,"c":{"c1":11,"c2":22}}"#
        #expect(try pick("*", record) == record)
        #expect(try pick("*,c.c2", record) == #"{"a":1,"b":2,"c":{"c2":22}}"#)
        #expect(try pick("c.*", record) == #"{"c":{"c1":11,"c2":22}}"#)
    }

    @Test func pathsGoIntoEachObjectOfAnArray() throws {
        let record = #"{"id":"x","tags":[{"name":"a","n":1},{"name":"b"}],"list":[1,2]}"#
        #expect(try pick("tags.name,list", record) == #"{"tags":[{"name":"a"},{"name":"b"}],"list":[1,2]}"#)
        // A listing's items are records picked one by one.
        #expect(try pick("id", #"[{"id":"1","t":2},{"id":"2"}]"#) == #"[{"id":"1"},{"id":"2"}]"#)
    }

    @Test func excerptMakesPlainTextOfAboutMaxBytes() throws {
        let record =
            #"{"body":"<p>Hello <b>big</b>   world</p><script>alert(1)</script><p>again &amp; more</p>","n":5}"#
        #expect(try pick("body:excerpt(100)", record) == #"{"body":"Hello big world again & more"}"#)
        #expect(try pick("body:excerpt(10,true)", record) == #"{"body":"Hello big..."}"#)
        #expect(try pick("body:excerpt(10, false)", record) == #"{"body":"Hello big"}"#)
        // Not a string: kept as it is.
        #expect(try pick("n:excerpt(1)", record) == #"{"n":5}"#)
        #expect(RecordFieldPicker.excerpt("<img src=x>héllo<br>wörld", max: 100, ellipsis: false) == "héllo wörld")
        // Cut at a character, never inside one.
        #expect(RecordFieldPicker.excerpt("ééé", max: 3, ellipsis: false) == "é")
        #expect(RecordFieldPicker.excerpt("a&#x41;&#66;&bogus;", max: 100, ellipsis: false) == "aAB&bogus;")
    }

    @Test func aBadModifierIsRefused() {
        for fields in ["a:nope(1)", "a:excerpt", "a:excerpt()", "a:excerpt(0)", "a:excerpt(x)", "a:excerpt(1,2,3)"] {
            #expect(throws: RecordError.self, "\(fields)") { _ = try RecordFieldPicker(fields) }
        }
        #expect(throws: RecordError.self) { _ = try RecordFieldPicker(String(repeating: "a,", count: 3_000)) }
    }
}

/// Seeded mutations of `fields` texts and HTML on every `swift test` (the `recordfields` fuzz target runs the
/// same checks under libFuzzer): a `fields` is refused or picks keys the record has, in its order; an
/// excerpt is trimmed plain text with no run of spaces, no longer than asked.
@Suite struct RecordFieldPickerRobustnessTests {
    static let seeds = [
        "id,title:excerpt(20,true),m.o.id", "*,items.name,tags", " a , b.c:excerpt( 3 ,1) ,*",
        "<p>Hi <b>there</b></p><script>x<y</script>&amp;&#x41;&nbsp;<img src=a>z<br/>w",
    ]
    static let alphabet = Array("(),:.*<>/&#;x \n\"'0123456789excerptidtitle<p></p>é".utf8)
    static let record: JSONValue = {
        let text = #"{"id":"a","title":"<b>Hello</b> world","n":5,"m":{"o":{"id":"u1"}},"items":[{"name":"x"}]}"#
        return try! Array(text.utf8).withUnsafeBytes { try JSONParser.parse($0) }
    }()

    @Test func mutatedFieldsAndHTMLNeverCrash() throws {
        guard case .object(let fields) = Self.record else { return }
        let keys = fields.map(\.key)
        var random = SplitMix(state: 0x4649_454C)
        let mutator = ByteMutator(alphabet: Self.alphabet)
        var parsed = 0
        for round in 0..<20_000 {
            let bytes = mutator.mutate(Array(Self.seeds[round % Self.seeds.count].utf8), edits: 1...4, using: &random)
            let text = String(decoding: bytes, as: UTF8.self)
            if let picker = try? RecordFieldPicker(text) {
                parsed += 1
                guard case .object(let picked) = picker.pick(Self.record) else {
                    Issue.record("not an object: \(text)")
                    continue
                }
                let pickedKeys = picked.map(\.key)
                #expect(pickedKeys == keys.filter { pickedKeys.contains($0) }, "\(text)")
            }
            let max = Int.random(in: 1...40, using: &random)
            let excerpt = RecordFieldPicker.excerpt(text, max: max, ellipsis: round % 2 == 0)
            #expect(excerpt.utf8.count <= max + 3 && !excerpt.contains("  "), "\(text)")
            #expect(excerpt.first?.isWhitespace != true && excerpt.last?.isWhitespace != true, "\(text)")
        }
        #expect(parsed > 1_000)
    }
}
