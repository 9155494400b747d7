import BusCore
import NIOCore
import NativeWebSocketWire
import SwitchboardTestSupport
import Testing

/// Seeded mutations of valid requests through the decoders: nothing may crash, every refusal is a
/// `bad_request`, and the JSON validator agrees with the parser. (libFuzzer runs: Tests/Fuzz.)
@Suite struct DecoderRobustnessTests {
    static let seeds = [
        #"{"id":1,"type":"subscribe","channel":"chat/a","history":3,"recover":{"offset":1,"epoch":"e"}}"#,
        #"{"id":"x","type":"publish","channel":"a/b","data":{"k":[1,2.5e3,"\u00e9\ud83d\ude00"]}}"#,
        #"{"type":"rpc","channel":"svc","data":null,"timeout":10}"#,
        #"{"type":"history","channel":"c","since":{"offset":0,"epoch":"z"},"limit":2}"#,
        #"{"type":"connect","token":"t\n","name":"\"q\""}"#,
    ]

    @Test func mutatedRequestsNeverCrash() {
        var random = SplitMix(state: 42)
        let alphabet =
            Array(#"{}[]":,\ 0123456789-+.eE"tfnul#/$"#.utf8) + [0x00, 0x7F, 0xC3, 0xA9, 0xFF, 0xED, 0xA0, 0x80]
        let mutator = ByteMutator(alphabet: alphabet, truncates: true)
        for round in 0..<20_000 {
            let seed = Array(DecoderRobustnessTests.seeds[round % DecoderRobustnessTests.seeds.count].utf8)
            let bytes = mutator.mutate(seed, edits: 1...4, using: &random)
            let parsed = bytes.withUnsafeBytes { try? JSONParser.parse($0) }
            let valid = bytes.withUnsafeBytes { JSONParser.isValidJSON($0) }
            #expect((parsed != nil) == valid, "\(String(decoding: bytes, as: UTF8.self))")
            do {
                _ = try NativeWSRequestDecoder.decode(ByteBuffer(bytes: bytes))
            } catch {
                #expect(error.code == .badRequest)
            }
            _ = try? TopicFilter(String(decoding: bytes, as: UTF8.self))
        }
    }
}
