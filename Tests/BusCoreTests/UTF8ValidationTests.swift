import BusCore
import SwitchboardTestSupport
import Testing

/// `UTF8Validation` must agree with the standard library's validator on every input.
@Suite struct UTF8ValidationTests {
    func ours(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes(UTF8Validation.isValid) }
    func standard(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }

    @Test func agreesOnEveryOneAndTwoByteInput() {
        for first in 0...255 {
            #expect(ours([UInt8(first)]) == standard([UInt8(first)]), "\(first)")
            for second in 0...255 {
                let bytes = [UInt8(first), UInt8(second)]
                if ours(bytes) != standard(bytes) { Issue.record("disagree on \(bytes)") }
            }
        }
    }

    @Test func agreesOnThreeAndFourByteSequences() {
        // Every lead from E0 and every second byte, with continuation and non-continuation tails.
        for lead in 0xE0...0xFF {
            for second in 0...255 {
                for tail in [0x41, 0x80, 0xBF, 0xC0] {
                    for bytes in [
                        [UInt8(lead), UInt8(second), UInt8(tail)],
                        [UInt8(lead), UInt8(second), 0x80, UInt8(tail)],
                        [UInt8(lead), UInt8(second), UInt8(tail), 0x80],
                    ] where ours(bytes) != standard(bytes) {
                        Issue.record("disagree on \(bytes)")
                    }
                }
            }
        }
    }

    @Test func namesTheEdgesOfTheTable() {
        #expect(ours(Array("a é € 😀 \u{10FFFF}".utf8)))
        #expect(!ours([0xC0, 0x80]))  // overlong NUL
        #expect(!ours([0xE0, 0x9F, 0xBF]))  // overlong U+07FF
        #expect(!ours([0xED, 0xA0, 0x80]))  // the surrogate U+D800
        #expect(!ours([0xF0, 0x8F, 0xBF, 0xBF]))  // overlong U+FFFF
        #expect(!ours([0xF4, 0x90, 0x80, 0x80]))  // U+110000
        #expect(!ours([0xE2, 0x82]))  // truncated
        #expect(ours([]))
    }

    @Test func agreesOnMutatedTextAtEveryAlignment() {
        var random = SplitMix(state: 0x5554_4638)
        let text = Array("plain ascii, then ünïcödé, then € and 😀, then ascii again for the fast path".utf8)
        for _ in 0..<20_000 {
            var bytes = Array(text[Int.random(in: 0..<text.count, using: &random)...])
            for _ in 0..<Int.random(in: 0...3, using: &random) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            if ours(bytes) != standard(bytes) { Issue.record("disagree on \(bytes)") }
        }
    }
}
