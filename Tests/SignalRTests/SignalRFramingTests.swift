import NIOCore
import SignalRWire
import SwitchboardTestSupport
import Testing

/// The two framings of the hub protocol: JSON messages ended by the record separator (§JSON Encoding)
/// and MessagePack messages behind a VarInt length (§Binary encoding, §VarInt), fed whole, byte by byte
/// and in random reads; "need more" never moves the reader index.
@Suite struct SignalRFramingTests {
    private func text(_ reads: [[UInt8]], max: Int = 32_768) -> ReadFeeder.Decoded<ByteBuffer, SignalRWireError> {
        var decoder = SignalRTextFrameDecoder(maxMessageSize: max)
        let decoded = ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(SignalRWireError) in
            try decoder.next(&buffer)
        }
        #expect(!decoded.needMoreMovedTheReaderIndex)
        return decoded
    }

    private func binary(_ reads: [[UInt8]], max: Int = 32_768) -> ReadFeeder.Decoded<ByteBuffer, SignalRWireError> {
        let decoder = SignalRBinaryFrameDecoder(maxMessageSize: max)
        let decoded = ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(SignalRWireError) in
            try decoder.next(&buffer)
        }
        #expect(!decoded.needMoreMovedTheReaderIndex)
        return decoded
    }

    static let textStream = Array(
        "{\"protocol\":\"json\",\"version\":1}\u{1e}{\"type\":6}\u{1e}\u{1e}{\"type\":1,\"target\":\"a\u{1e}\"".utf8)
    static let textMessages = ["{\"protocol\":\"json\",\"version\":1}", "{\"type\":6}", ""]

    @Test func textMessagesEndAtTheRecordSeparator() {
        var random = SplitMix(state: 5)
        for reads in [
            [Self.textStream], Self.textStream.byteByByte, Self.textStream.randomReads(sizes: 1...9, using: &random),
        ] {
            let decoded = text(reads)
            #expect(decoded.error == nil)
            // The separator inside the last message's string ends it there: JSON in SignalR may not hold
            // a raw 0x1E (the JSON encoder escapes it as \u001e), so the message is the bytes before it.
            #expect(decoded.values.map { String(buffer: $0) } == Self.textMessages + ["{\"type\":1,\"target\":\"a"])
        }
    }

    @Test func aTextMessageWaitsForItsSeparator() throws {
        var decoder = SignalRTextFrameDecoder()
        var buffer = ByteBuffer(string: "{\"type\":")
        #expect(try decoder.next(&buffer) == nil)
        #expect(buffer.readerIndex == 0)
        buffer.writeString("6}\u{1e}{")
        #expect(try decoder.next(&buffer) == ByteBuffer(string: "{\"type\":6}"))
        #expect(try decoder.next(&buffer) == nil)
        #expect(String(buffer: buffer) == "{")
    }

    @Test func textMessagesAreBoundedBeforeTheirSeparatorArrives() {
        let limit = 16
        // Exactly the limit, then one over.
        #expect(text([Array(repeating: 0x61, count: 16) + [0x1E]], max: limit).values.count == 1)
        #expect(text([Array(repeating: 0x61, count: 17) + [0x1E]], max: limit).error == .messageTooLarge(limit: 16))
        // 17 bytes and no separator yet: refused now, not when (if ever) the separator comes.
        let endless = text(Array(repeating: 0x61, count: 17).byteByByte, max: limit)
        #expect(endless.error == .messageTooLarge(limit: 16))
        #expect(endless.values.isEmpty)
    }

    /// §Binary encoding's example: "Hello\nWorld" and 0x01 0x02.
    static let binaryStream: [UInt8] = [0x0B] + Array("Hello\nWorld".utf8) + [0x02, 0x01, 0x02]

    @Test func binaryMessagesFollowTheirLength() {
        var random = SplitMix(state: 6)
        let reads = [
            [Self.binaryStream], Self.binaryStream.byteByByte,
            Self.binaryStream.randomReads(sizes: 1...4, using: &random),
        ]
        for reads in reads {
            let decoded = binary(reads)
            #expect(decoded.error == nil)
            #expect(decoded.values == [ByteBuffer(string: "Hello\nWorld"), ByteBuffer(bytes: [0x01, 0x02])])
        }
    }

    @Test func varIntExamplesOfTheSpec() throws {
        func length(_ bytes: [UInt8]) throws -> Int? {
            try SignalRBinaryFrameDecoder.lengthPrefix(of: ByteBuffer(bytes: bytes))?.length
        }
        #expect(try length([0x35]) == 53)
        #expect(try length([0x80, 0x29]) == 5248)
        #expect(try length([0xFF, 0xFF, 0xFF, 0xFF, 0x07]) == 0x7FFF_FFFF)
        // Incomplete prefixes wait.
        #expect(try length([0x80]) == nil)
        #expect(try length([0xFF, 0xFF, 0xFF, 0xFF]) == nil)
        // Over 2^31 − 1, or more than 5 bytes: refused.
        #expect(throws: SignalRWireError.self) { try length([0xFF, 0xFF, 0xFF, 0xFF, 0x08]) }
        #expect(throws: SignalRWireError.self) { try length([0x80, 0x80, 0x80, 0x80, 0x80, 0x00]) }
        // Padding groups are accepted, as ASP.NET Core's parser accepts them.
        #expect(try length([0x80, 0x00]) == 0)
        // The encoder writes the same bytes.
        for (value, bytes) in [(53, [0x35]), (5248, [0x80, 0x29]), (0x7FFF_FFFF, [0xFF, 0xFF, 0xFF, 0xFF, 0x07])]
            as [(Int, [UInt8])]
        {
            var buffer = ByteBuffer()
            buffer.writeSignalRLengthPrefix(value)
            #expect(Array(buffer.readableBytesView) == bytes)
        }
    }

    @Test func aBinaryLengthIsCheckedBeforeItsBodyArrives() {
        // 32,769 announced and not one byte of it sent.
        let decoded = binary([[0x81, 0x80, 0x02]])
        #expect(decoded.error == .messageTooLarge(limit: 32_768))
        #expect(binary([[0x80, 0x80, 0x02] + Array(repeating: 0, count: 32_768)]).values.count == 1)
    }

    @Test func writtenMessagesCarryTheirPrefix() {
        for length in [0, 1, 127, 128, 16_383, 16_384, 70_000] {
            let body = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
            var buffer = ByteBuffer(string: "before")
            buffer.writeSignalRBinaryMessage { $0.writeBytes(body) }
            #expect(buffer.readString(length: 6) == "before")
            let prefix = length < 128 ? 1 : length < 16_384 ? 2 : 3
            #expect(buffer.readableBytes == prefix + length)
            let decoded = binary([Array(buffer.readableBytesView)], max: 100_000)
            #expect(decoded.values == [ByteBuffer(bytes: body)])
        }
    }
}
