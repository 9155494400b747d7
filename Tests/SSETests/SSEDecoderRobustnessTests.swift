import BusCore
import NIOCore
import SSEWire
import SwitchboardTestSupport
import Testing

/// Seeded mutations of valid cursors and queries through the SSE decoders on every `swift test`:
/// nothing crashes, a parsed cursor re-encodes to itself, and the data encoder never lets a CR or a
/// non-`data:` line through. (libFuzzer runs the same checks: Tests/Fuzz, targets `sse*`.)
@Suite struct SSEDecoderRobustnessTests {
    static let seeds = ["k3v9q2-ya", "a-1..b-10", "zz-0.", "e1-3w5e11264sgsf"]
    static let alphabet = Array("-.0123456789azAZ_ %\r\n\u{0}".utf8) + [0xC3, 0xA9, 0xFF]

    func mutate(_ seed: String, _ random: inout SplitMix) -> [UInt8] {
        ByteMutator(alphabet: Self.alphabet, truncates: true).mutate(Array(seed.utf8), edits: 1...3, using: &random)
    }

    @Test func mutatedCursorsRoundTripOrFail() {
        var random = SplitMix(state: 7)
        for round in 0..<20_000 {
            let text = String(decoding: mutate(Self.seeds[round % Self.seeds.count], &random), as: UTF8.self)
            let entries = text.utf8.count(where: { $0 == UInt8(ascii: ".") }) + 1
            if let cursor = try? SSECursor.parse(text, channels: entries) {
                #expect((try? SSECursor.parse(cursor.text, channels: entries)) == cursor, "\(text)")
            }
            _ = try? SSEStreamRequest.parse(query: ["channel": ["a", "b/+", "c"]], lastEventID: text)
            _ = try? SSEPollRequest.parse(
                query: ["channel": ["a"], "cursor": [text]], ifNoneMatch: nil, defaultTimeoutSeconds: 1,
                maxTimeoutSeconds: 1)
        }
    }

    @Test func anyPayloadStaysInsideDataLines() {
        var random = SplitMix(state: 11)
        for _ in 0..<5_000 {
            let bytes = (0..<Int.random(in: 0...40, using: &random)).map { _ in
                Self.alphabet.randomElement(using: &random)!
            }
            var out = ByteBuffer()
            SSEEventEncoder.data(&out, ByteBuffer(bytes: bytes))
            #expect(!out.readableBytesView.contains(UInt8(ascii: "\r")))
            let lines = out.readableBytesView.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            #expect(lines.last?.isEmpty == true)
            #expect(lines.dropLast().allSatisfy { $0.starts(with: "data: ".utf8) })
        }
    }
}
