import NIOCore
import SignalRWire
import SwitchboardTestSupport
import Testing

/// Seeded mutations of valid input through the three decoders (the `msgpack`, `signalrjson` and
/// `signalrmsgpack` fuzz targets run the same checks for longer): decoding throws or returns, never
/// crashes; whole and byte-by-byte reads agree; what decodes re-encodes to bytes that decode to the
/// same value; and a message decoded from one encoding can be written in the other.
@Suite struct SignalRDecoderRobustnessTests {
    /// The spec's MessagePack messages and a value of every type.
    static var messagePackSeeds: [[UInt8]] {
        var everything = ByteBuffer()
        everything.writeMessagePack(
            .map([
                (.string("n"), .nil), (.int(-33), .bool(true)), (.uint(.max), .double(-1.5)), (.float(2), .string("é")),
                (.binary(ByteBuffer(bytes: [1, 2])), .array([.int(70_000), .int(-70_000)])),
                (
                    .ext(type: 4, data: ByteBuffer(bytes: [9, 9, 9])),
                    MessagePackTimestamp(seconds: 1, nanoseconds: 2).value
                ),
            ]))
        return SignalRMessagePackMessageTests.examples.map(\.1) + [Array(everything.readableBytesView)]
    }

    /// The spec's JSON messages, each ended by its separator, behind a handshake.
    static var jsonStream: [UInt8] {
        Array("{\"protocol\":\"json\",\"version\":1}\u{1e}".utf8)
            + SignalRJSONMessageTests.examples.flatMap { Array($0.0.utf8) + [0x1E] }
    }

    /// The spec's MessagePack messages, each behind its length.
    static var messagePackStream: [UInt8] {
        var buffer = ByteBuffer()
        for seed in messagePackSeeds.dropLast() {
            buffer.writeSignalRLengthPrefix(seed.count)
            buffer.writeBytes(seed)
        }
        return Array(buffer.readableBytesView)
    }

    @Test func mutatedMessagePackValuesRoundTrip() throws {
        var random = SplitMix(state: 2028)
        let mutator = ByteMutator(truncates: true)
        let seeds = Self.messagePackSeeds
        for round in 0..<5_000 {
            let input = mutator.mutate(seeds[round % seeds.count], edits: 1...4, using: &random)
            guard let value = try? MessagePackDecoder.decodeWhole(ByteBuffer(bytes: input)) else { continue }
            var again = ByteBuffer()
            again.writeMessagePack(value)
            #expect(try MessagePackDecoder.decodeWhole(again) == value)
        }
    }

    @Test func mutatedJSONStreamsRoundTrip() throws {
        var random = SplitMix(state: 2029)
        let mutator = ByteMutator(
            alphabet: Array("{}[]\":,0123456789-.e \\tnul\u{1e}".utf8) + [0xFF, 0xC3], truncates: true)
        for round in 0..<400 {
            let input = mutator.mutate(Self.jsonStream, edits: 1...8, using: &random)
            let messages = Self.decodeJSONStream(round % 4 == 0 ? input.byteByByte : [input])
            if round % 4 == 0 { #expect(messages == Self.decodeJSONStream([input])) }
            for message in messages.dropFirst() {
                guard let message = try? SignalRHubMessage.decodeJSON(message) else { continue }
                var again = ByteBuffer()
                message.writeJSONObject(into: &again)
                #expect(try SignalRHubMessage.decodeJSON(again) == message)
                // Written as MessagePack, it decodes (payload conversion is total).
                var binary = ByteBuffer()
                message.writeMessagePackArray(into: &binary)
                _ = try? SignalRHubMessage.decodeMessagePack(binary)
            }
        }
    }

    @Test func mutatedMessagePackStreamsRoundTrip() throws {
        var random = SplitMix(state: 2030)
        let mutator = ByteMutator(truncates: true)
        for round in 0..<400 {
            let input = mutator.mutate(Self.messagePackStream, edits: 1...8, using: &random)
            let messages = Self.decodeMessagePackStream(round % 4 == 0 ? input.byteByByte : [input])
            if round % 4 == 0 { #expect(messages == Self.decodeMessagePackStream([input])) }
            for message in messages {
                guard let message = try? SignalRHubMessage.decodeMessagePack(message) else { continue }
                var again = ByteBuffer()
                message.writeMessagePackArray(into: &again)
                #expect(try SignalRHubMessage.decodeMessagePack(again) == message)
                var text = ByteBuffer()
                message.writeJSONObject(into: &text)
                _ = try? SignalRHubMessage.decodeJSON(text)
            }
        }
    }

    private static func decodeJSONStream(_ reads: [[UInt8]]) -> [ByteBuffer] {
        var decoder = SignalRTextFrameDecoder()
        return ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(SignalRWireError) in
            try decoder.next(&buffer)
        }
        .values
    }

    private static func decodeMessagePackStream(_ reads: [[UInt8]]) -> [ByteBuffer] {
        let decoder = SignalRBinaryFrameDecoder()
        return ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(SignalRWireError) in
            try decoder.next(&buffer)
        }
        .values
    }
}
