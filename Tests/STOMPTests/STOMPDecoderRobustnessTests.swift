import NIOCore
import STOMPWire
import SwitchboardTestSupport
import Testing

/// Seeded mutations of valid frame streams (the `stomp` fuzz target runs the same checks for longer):
/// decoding throws or returns, never crashes; whole and byte-by-byte reads agree; what decodes
/// re-encodes to the same frame.
@Suite struct STOMPDecoderRobustnessTests {
    static let seeds: [[UInt8]] = [
        Array("CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0".utf8),
        Array("SEND\ndestination:/topic/a.b\nk:a\\cb\\n\\\\\ncontent-length:4\n\nab\0c\0\n\n".utf8),
        Array("SUBSCRIBE\r\nid:0\r\ndestination:/queue/q\r\nack:client\r\n\r\n\0ACK\nid:T_0@@1\n\n\0".utf8),
        Array("MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/topic/x\n\nbody\0".utf8),
    ]

    /// Heart-beats are values of their own here, so that consuming them counts as progress.
    static func frames(_ reads: [[UInt8]]) -> (values: [STOMPFrame], needMoreMovedTheReaderIndex: Bool) {
        let decoded = ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(STOMPError) -> STOMPFrame?? in
            if STOMPFrameDecoder.skipHeartBeats(&buffer) > 0 { return .some(nil) }
            return try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: STOMPLimits()).map { $0 }
        }
        return (decoded.values.compactMap { $0 }, decoded.needMoreMovedTheReaderIndex)
    }

    @Test func mutatedStreams() {
        var random = SplitMix(state: 2026)
        let mutator = ByteMutator(
            alphabet: Array("\n\r\0:\\cnrx-SENDCONNECT0123456789".utf8) + [0xFF, 0xC3], truncates: true)
        for round in 0..<1_500 {
            let seed = Self.seeds[round % Self.seeds.count] + Self.seeds[(round / 4) % Self.seeds.count]
            let input = mutator.mutate(seed, edits: 1...6, using: &random)
            let whole = Self.frames([input])
            let split = Self.frames(input.byteByByte)
            #expect(split.values == whole.values, "byte-by-byte reads disagree on \(input)")
            #expect(!split.needMoreMovedTheReaderIndex)
            for frame in whole.values {
                var out = ByteBuffer()
                STOMPFrameEncoder.write(frame, escaping: .v1_2, to: &out)
                let again = try? STOMPFrameDecoder.decode(&out, escaping: .v1_2, limits: STOMPLimits())
                #expect(again?.command == frame.command && again?.body == frame.body)
                #expect(again?.headers["destination"] == frame.headers["destination"])
            }
        }
    }
}
