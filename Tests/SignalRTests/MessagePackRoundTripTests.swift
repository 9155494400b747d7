import NIOCore
import SignalRWire
import SwitchboardTestSupport
import Testing

/// Seeded random values through the encoder and back, and the decoder's bounds: nesting, lengths and
/// counts that claim more than the input holds (refused before anything is allocated for them), values
/// cut short, invalid UTF-8.
@Suite struct MessagePackRoundTripTests {
    /// A random value of at most `depth` levels, covering every case and each integer width.
    static func randomValue(depth: Int, using random: inout SplitMix) -> MessagePackValue {
        let kinds = depth > 0 ? 12 : 10
        switch Int.random(in: 0..<kinds, using: &random) {
        case 0: return .nil
        case 1: return .bool(Bool.random(using: &random))
        case 2:
            let bits = [7, 8, 15, 16, 31, 32, 63].randomElement(using: &random)!
            let magnitude = Int64.random(in: 0...(Int64.max >> (63 - bits)), using: &random)
            return .int(Bool.random(using: &random) ? magnitude : -magnitude - 1)
        case 3: return .uint(UInt64.random(in: (1 << 63)...UInt64.max, using: &random))
        case 4: return .float(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &random)))
        case 5: return .double(Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &random)))
        case 6:
            let scalars = (0..<Int.random(in: 0...40, using: &random)).map { _ in
                ["a", "é", "€", "😀", "\u{0}", "\""].randomElement(using: &random)!
            }
            return .string(scalars.joined())
        case 7: return .binary(ByteBuffer(bytes: bytes(Int.random(in: 0...300, using: &random), using: &random)))
        case 8:
            let length = [0, 1, 2, 3, 4, 8, 16, 17, 300].randomElement(using: &random)!
            return .ext(
                type: Int8.random(in: 0...127, using: &random), data: ByteBuffer(bytes: bytes(length, using: &random)))
        case 9:
            let timestamp = MessagePackTimestamp(
                seconds: Int64.random(in: -(1 << 40)...(1 << 40), using: &random),
                nanoseconds: UInt32.random(in: 0...999_999_999, using: &random))
            return timestamp.value
        case 10:
            return .array(
                (0..<Int.random(in: 0...20, using: &random)).map { _ in randomValue(depth: depth - 1, using: &random) })
        default:
            return .map(
                (0..<Int.random(in: 0...20, using: &random)).map { _ in
                    (key: randomValue(depth: 0, using: &random), value: randomValue(depth: depth - 1, using: &random))
                })
        }
    }

    private static func bytes(_ count: Int, using random: inout SplitMix) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    @Test func randomValuesRoundTrip() throws {
        var random = SplitMix(state: 17)
        for _ in 0..<500 {
            let value = Self.randomValue(depth: 3, using: &random)
            var buffer = ByteBuffer()
            buffer.writeMessagePack(value)
            #expect(try MessagePackDecoder.decodeWhole(buffer) == value)
        }
    }

    @Test func everyTruncationIsRefused() throws {
        var random = SplitMix(state: 18)
        for _ in 0..<40 {
            var buffer = ByteBuffer()
            buffer.writeMessagePack(.array([Self.randomValue(depth: 2, using: &random), .string("end")]))
            let bytes = Array(buffer.readableBytesView)
            for length in 0..<bytes.count {
                #expect(throws: SignalRWireError.self) {
                    try MessagePackDecoder.decodeWhole(ByteBuffer(bytes: bytes[0..<length]))
                }
            }
        }
    }

    @Test func decodeReadsOneValueAndLeavesTheRest() throws {
        var buffer = ByteBuffer(bytes: [0x92, 0x01, 0xA1, 0x78, 0xC3])
        #expect(try MessagePackDecoder.decode(&buffer) == .array([.int(1), .string("x")]))
        #expect(Array(buffer.readableBytesView) == [0xC3])
        #expect(throws: SignalRWireError.self) { try MessagePackDecoder.decodeWhole(ByteBuffer(bytes: [0xC0, 0xC0])) }
        // A refused value leaves the reader index alone.
        var cut = ByteBuffer(bytes: [0x92, 0x01])
        #expect(throws: SignalRWireError.self) { try MessagePackDecoder.decode(&cut) }
        #expect(cut.readerIndex == 0)
    }

    @Test func nestingIsBoundedByMaxDepth() throws {
        let limits = MessagePackLimits()
        let deepest = [UInt8](repeating: 0x91, count: limits.maxDepth) + [0xC0]
        #expect(throws: Never.self) { try MessagePackDecoder.decodeWhole(ByteBuffer(bytes: deepest)) }
        #expect(throws: SignalRWireError.invalidMessagePack("nested too deeply")) {
            try MessagePackDecoder.decodeWhole(ByteBuffer(bytes: [0x91] + deepest))
        }
        #expect(throws: SignalRWireError.invalidMessagePack("nested too deeply")) {
            try MessagePackDecoder.decodeWhole(ByteBuffer(bytes: [UInt8](repeating: 0x81, count: 100_000)))
        }
    }

    @Test func claimedLengthsPastTheEndAreRefusedUpFront() {
        let lies: [[UInt8]] = [
            [0xC6, 0xFF, 0xFF, 0xFF, 0xFF],  // bin 32 of 4 GB
            [0xDB, 0xFF, 0xFF, 0xFF, 0xFF, 0x61],  // str 32
            [0xC9, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // ext 32
            [0xDD, 0xFF, 0xFF, 0xFF, 0xFF, 0xC0, 0xC0],  // array 32 of 4 billion
            [0xDF, 0x00, 0x00, 0x00, 0x02, 0xC0, 0xC0, 0xC0],  // map 32 of 2 pairs in 3 bytes
            [0x93, 0x01, 0x02],  // fixarray of 3 with 2 elements
            [0xD8, 0x01, 0x00],  // fixext 16 with 1 byte
        ]
        for bytes in lies {
            #expect(throws: SignalRWireError.self, "\(bytes)") {
                try MessagePackDecoder.decodeWhole(ByteBuffer(bytes: bytes))
            }
        }
    }

    @Test func refusesStrThatIsNotUTF8() {
        for bytes: [UInt8] in [[0xA1, 0xFF], [0xA2, 0xC3, 0x28], [0xA3, 0xED, 0xA0, 0x80]] {
            #expect(throws: SignalRWireError.invalidMessagePack("str is not UTF-8")) {
                try MessagePackDecoder.decodeWhole(ByteBuffer(bytes: bytes))
            }
        }
    }

    @Test func slicesAreNotCopies() throws {
        let bytes = ByteBuffer(bytes: [0x92, 0xC4, 0x02, 0xAA, 0xBB, 0xA1, 0x7A])
        guard case .array(let items) = try MessagePackDecoder.decodeWhole(bytes), case .binary(let slice) = items[0]
        else {
            Issue.record("not an array of a bin")
            return
        }
        #expect(slice == ByteBuffer(bytes: [0xAA, 0xBB]))
        // A slice shares the message's storage.
        let sharesStorage = slice.withUnsafeReadableBytes { sliced in
            bytes.withUnsafeReadableBytes { whole in sliced.baseAddress == whole.baseAddress! + 3 }
        }
        #expect(sharesStorage)
    }

    @Test func equalityIsByEncoding() {
        #expect(MessagePackValue.uint(5) == .int(5))
        #expect(MessagePackValue.double(.nan) == .double(.nan))
        #expect(MessagePackValue.double(0.0) != .double(-0.0))
        #expect(MessagePackValue.float(1) != .double(1))
        #expect(MessagePackValue.integer(UInt64.max) == .uint(.max))
    }
}
