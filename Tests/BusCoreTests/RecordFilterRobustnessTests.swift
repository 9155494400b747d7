import BusCore
import SwitchboardTestSupport
import Testing

/// Seeded mutations of the `recordfilter` fuzz corpus on every `swift test`: any input is refused with an
/// offset inside it, or parsed and evaluated, never a crash or a hang.
@Suite struct RecordFilterRobustnessTests {
    static let seeds = [
        "@request.auth.id != '' && (owner = @request.auth.id || public = true)",
        #"title ~ "draft%" && tags ?= "urgent" && created >= @todayStart // comment"#,
        #"(a = 1 || (b.c.d != 'x\'y' && e:length > 2)) && @request.body.f:changed = false && g:lower !~ "%\_%""#,
        "-created,title,+meta.level,@random",
        "scores ?>= -1.5 || scores:each < 10 || @request.query.page:isset = TRUE || null = ''",
    ]
    static let alphabet = Array("()&|=!<>~?'\"\\%_.:@-/ \n0aZ#,+é".utf8)

    @Test func mutatedFiltersNeverCrash() {
        var random = SplitMix(state: 0x5245_4346)
        let request = RecordRequestContext(
            auth: RecordFilterTests.record, query: ["page": "1"], body: RecordFilterTests.record,
            now: RecordFilterTests.now)
        var parsed = 0
        for round in 0..<20_000 {
            var bytes = Array(Self.seeds[round % Self.seeds.count].utf8)
            for _ in 0...Int(random.next() % 4) {
                let position = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count))
                let byte = Self.alphabet[Int(random.next() % UInt64(Self.alphabet.count))]
                switch random.next() % 3 {
                case 0 where !bytes.isEmpty: bytes[position] = byte
                case 1 where !bytes.isEmpty: bytes.remove(at: position)
                default: bytes.insert(byte, at: position)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                let filter = try RecordFilter(parsing: text)
                parsed += 1
                _ = filter.matches(RecordFilterTests.record, request: request)
            } catch {
                #expect(error.offset >= 0 && error.offset <= text.utf8.count, "\(text)")
            }
            if let sort = try? RecordSort(parsing: text) {
                #expect(!sort.areInIncreasingOrder(RecordFilterTests.record, RecordFilterTests.record))
            }
        }
        // The mutations must leave enough valid filters for evaluation to be exercised too.
        #expect(parsed > 1_000)
    }
}
