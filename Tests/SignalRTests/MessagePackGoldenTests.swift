import NIOCore
import SignalRWire
import Testing

/// MessagePack formats byte by byte (msgpack spec.md §Formats): every format byte decodes to its family,
/// each format's boundaries decode to their values, and the encoder picks the smallest format at every
/// boundary (§Serialization).
@Suite struct MessagePackGoldenTests {
    private func decode(_ bytes: [UInt8]) throws -> MessagePackValue {
        try MessagePackDecoder.decodeWhole(ByteBuffer(bytes: bytes))
    }

    private func encode(_ value: MessagePackValue) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeMessagePack(value)
        return Array(buffer.readableBytesView)
    }

    private static func family(_ value: MessagePackValue) -> String {
        switch value {
        case .nil: "nil"
        case .bool: "bool"
        case .int, .uint: "int"
        case .float: "float32"
        case .double: "float64"
        case .string: "str"
        case .binary: "bin"
        case .array: "array"
        case .map: "map"
        case .ext: "ext"
        }
    }

    /// The family of each first byte, from the spec's overview table.
    private static func expectedFamily(_ byte: UInt8) -> String? {
        switch byte {
        case 0x00...0x7F, 0xE0...0xFF, 0xCC...0xD3: "int"
        case 0x80...0x8F, 0xDE, 0xDF: "map"
        case 0x90...0x9F, 0xDC, 0xDD: "array"
        case 0xA0...0xBF, 0xD9...0xDB: "str"
        case 0xC0: "nil"
        case 0xC1: nil
        case 0xC2, 0xC3: "bool"
        case 0xC4...0xC6: "bin"
        case 0xC7...0xC9, 0xD4...0xD8: "ext"
        case 0xCA: "float32"
        default: "float64"  // 0xcb
        }
    }

    @Test func everyFormatByteDecodesToItsFamily() throws {
        // Zeros after the format byte make every length and count 0 and every str of a fixstr valid.
        for byte in UInt8.min...UInt8.max {
            var buffer = ByteBuffer(bytes: bytes([byte], [UInt8](repeating: 0, count: 40)))
            guard let family = Self.expectedFamily(byte) else {
                // 0xc1: "(never used)".
                #expect(throws: SignalRWireError.self) { try MessagePackDecoder.decode(&buffer) }
                continue
            }
            #expect(
                Self.family(try MessagePackDecoder.decode(&buffer)) == family, "format 0x\(String(byte, radix: 16))")
        }
    }

    /// Each format at its bounds, in its smallest form: decodes to the value, and the value encodes back
    /// to the same bytes.
    static var golden: [([UInt8], MessagePackValue)] {
        var cases: [([UInt8], MessagePackValue)] = []
        // positive fixint, negative fixint
        cases += [([0x00], .int(0)), ([0x7F], .int(127)), ([0xFF], .int(-1)), ([0xE0], .int(-32))]
        // fixmap, fixarray, fixstr
        cases.append(([0x80], .map([])))
        cases.append(([0x81, 0xA1, 0x61, 0x01], .map([(key: .string("a"), value: .int(1))])))
        cases.append(([0x90], .array([])))
        cases.append(([0x93, 0x01, 0xC0, 0xC3], .array([.int(1), .nil, .bool(true)])))
        cases.append(([0xA0], .string("")))
        cases.append(([0xA3, 0x61, 0x62, 0x63], .string("abc")))
        cases.append((bytes([0xBF], [UInt8](repeating: 0x61, count: 31)), .string(String(repeating: "a", count: 31))))
        cases.append(([0xA2, 0xC3, 0xA9], .string("é")))
        // nil, false, true
        cases += [([0xC0], .nil), ([0xC2], .bool(false)), ([0xC3], .bool(true))]
        // bin 8
        cases.append(([0xC4, 0x00], .binary(ByteBuffer())))
        cases.append(([0xC4, 0x03, 0x01, 0x02, 0x03], .binary(ByteBuffer(bytes: [1, 2, 3]))))
        // ext 8 (lengths that are no fixext), fixext 1, 2, 4, 8, 16
        cases.append(([0xC7, 0x00, 0x05], .ext(type: 5, data: ByteBuffer())))
        cases.append(([0xC7, 0x03, 0x7F, 0x01, 0x02, 0x03], .ext(type: 127, data: ByteBuffer(bytes: [1, 2, 3]))))
        cases.append(([0xD4, 0x01, 0xAA], .ext(type: 1, data: ByteBuffer(bytes: [0xAA]))))
        cases.append(([0xD5, 0x80, 0xAA, 0xBB], .ext(type: -128, data: ByteBuffer(bytes: [0xAA, 0xBB]))))
        cases.append(([0xD6, 0x02, 1, 2, 3, 4], .ext(type: 2, data: ByteBuffer(bytes: [1, 2, 3, 4]))))
        let eight: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        cases.append((bytes([0xD7, 0x03], eight), .ext(type: 3, data: ByteBuffer(bytes: eight))))
        let sixteen: [UInt8] = Array(1...16)
        cases.append((bytes([0xD8, 0x04], sixteen), .ext(type: 4, data: ByteBuffer(bytes: sixteen))))
        // float 32, float 64
        cases.append(([0xCA, 0x3F, 0xC0, 0x00, 0x00], .float(1.5)))
        cases.append(([0xCB, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0], .double(1.5)))
        cases.append(([0xCB, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0], .double(.infinity)))
        // uint 8, 16, 32, 64
        cases += [([0xCC, 0x80], .int(128)), ([0xCC, 0xFF], .int(255))]
        cases += [([0xCD, 0x01, 0x00], .int(256)), ([0xCD, 0xFF, 0xFF], .int(65_535))]
        cases.append(([0xCE, 0x00, 0x01, 0x00, 0x00], .int(65_536)))
        cases.append(([0xCE, 0xFF, 0xFF, 0xFF, 0xFF], .int(4_294_967_295)))
        cases.append(([0xCF, 0, 0, 0, 1, 0, 0, 0, 0], .int(4_294_967_296)))
        cases.append(([0xCF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], .int(.max)))
        cases.append(([0xCF, 0x80, 0, 0, 0, 0, 0, 0, 0], .uint(1 << 63)))
        cases.append(([0xCF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], .uint(.max)))
        // int 8, 16, 32, 64
        cases += [([0xD0, 0xDF], .int(-33)), ([0xD0, 0x80], .int(-128))]
        cases += [([0xD1, 0xFF, 0x7F], .int(-129)), ([0xD1, 0x80, 0x00], .int(-32_768))]
        cases.append(([0xD2, 0xFF, 0xFF, 0x7F, 0xFF], .int(-32_769)))
        cases.append(([0xD2, 0x80, 0, 0, 0], .int(Int64(Int32.min))))
        cases.append(([0xD3, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF], .int(Int64(Int32.min) - 1)))
        cases.append(([0xD3, 0x80, 0, 0, 0, 0, 0, 0, 0], .int(.min)))
        // str 8
        cases.append(
            (bytes([0xD9, 0x20], [UInt8](repeating: 0x62, count: 32)), .string(String(repeating: "b", count: 32))))
        // array 16, map 16
        cases.append(
            (bytes([0xDC, 0x00, 0x10], [UInt8](repeating: 0xC0, count: 16)), .array(Array(repeating: .nil, count: 16))))
        let pairs: [UInt8] = (0..<16).flatMap { [UInt8($0), 0xC2] }
        let map: [(key: MessagePackValue, value: MessagePackValue)] = (0..<16).map {
            (key: MessagePackValue.int(Int64($0)), value: MessagePackValue.bool(false))
        }
        cases.append((bytes([0xDE, 0x00, 0x10], pairs), .map(map)))
        return cases
    }

    @Test func goldenValuesDecodeAndEncode() throws {
        for (bytes, value) in Self.golden {
            #expect(try decode(bytes) == value, "\(bytes)")
            #expect(encode(value) == bytes, "\(value)")
        }
    }

    @Test func largeFormatsDecodeAndEncode() throws {
        // Formats whose smallest use needs more than 255 or 65,535 bytes or items.
        var cases: [(header: [UInt8], body: [UInt8], value: MessagePackValue)] = []
        let c256 = [UInt8](repeating: 0x63, count: 256)
        let c65536 = [UInt8](repeating: 0x63, count: 65_536)
        cases.append(([0xDA, 0x01, 0x00], c256, .string(String(repeating: "c", count: 256))))
        cases.append(([0xDB, 0x00, 0x01, 0x00, 0x00], c65536, .string(String(repeating: "c", count: 65_536))))
        cases.append(([0xC5, 0x01, 0x00], c256, .binary(ByteBuffer(bytes: c256))))
        cases.append(([0xC6, 0x00, 0x01, 0x00, 0x00], c65536, .binary(ByteBuffer(bytes: c65536))))
        cases.append(([0xC8, 0x01, 0x00, 0x09], c256, .ext(type: 9, data: ByteBuffer(bytes: c256))))
        cases.append(([0xC9, 0x00, 0x01, 0x00, 0x00, 0x09], c65536, .ext(type: 9, data: ByteBuffer(bytes: c65536))))
        let nils = [UInt8](repeating: 0xC0, count: 65_536)
        cases.append(([0xDD, 0x00, 0x01, 0x00, 0x00], nils, .array(Array(repeating: .nil, count: 65_536))))
        let nilPairs: [(key: MessagePackValue, value: MessagePackValue)] = Array(
            repeating: (key: .nil, value: .nil), count: 65_536)
        cases.append(([0xDF, 0x00, 0x01, 0x00, 0x00], bytes(nils, nils), .map(nilPairs)))
        for (header, body, value) in cases {
            #expect(try decode(bytes(header, body)) == value, "\(header)")
            #expect(encode(value) == bytes(header, body), "\(header)")
        }
    }

    @Test func theEncoderPicksTheSmallestFormatAtEveryBoundary() {
        func header(_ value: MessagePackValue, _ count: Int) -> [UInt8] { Array(encode(value).prefix(count)) }
        func string(_ length: Int) -> MessagePackValue { .string(String(repeating: "x", count: length)) }
        func binary(_ length: Int) -> MessagePackValue { .binary(ByteBuffer(repeating: 0, count: length)) }
        func ext(_ length: Int) -> MessagePackValue { .ext(type: 1, data: ByteBuffer(repeating: 0, count: length)) }
        func array(_ count: Int) -> MessagePackValue { .array(Array(repeating: .nil, count: count)) }
        func map(_ count: Int) -> MessagePackValue {
            .map(Array(repeating: (key: MessagePackValue.nil, value: MessagePackValue.nil), count: count))
        }
        #expect(header(string(31), 1) == [0xBF])
        #expect(header(string(32), 2) == [0xD9, 0x20])
        #expect(header(string(255), 2) == [0xD9, 0xFF])
        #expect(header(string(65_535), 3) == [0xDA, 0xFF, 0xFF])
        #expect(header(binary(255), 2) == [0xC4, 0xFF])
        #expect(header(binary(65_535), 3) == [0xC5, 0xFF, 0xFF])
        #expect(header(array(15), 1) == [0x9F])
        #expect(header(array(65_535), 3) == [0xDC, 0xFF, 0xFF])
        #expect(header(map(15), 1) == [0x8F])
        #expect(header(map(65_535), 3) == [0xDE, 0xFF, 0xFF])
        #expect(header(ext(255), 3) == [0xC7, 0xFF, 0x01])
        #expect(header(ext(65_535), 4) == [0xC8, 0xFF, 0xFF, 0x01])
        for (length, format) in [(1, 0xD4), (2, 0xD5), (4, 0xD6), (8, 0xD7), (16, 0xD8)] as [(Int, UInt8)] {
            #expect(header(ext(length), 2) == [format, 0x01])
        }
        #expect(header(ext(3), 3) == [0xC7, 0x03, 0x01])
        // .uint below Int64.max is written as the same integer; `.float` stays 32-bit.
        #expect(encode(.uint(5)) == [0x05])
        #expect(encode(.uint(300)) == [0xCD, 0x01, 0x2C])
        #expect(encode(.float(-0.0)) == [0xCA, 0x80, 0, 0, 0])
    }

    @Test func largerFormatsThanNeededStillDecode() throws {
        // The spec's examples of SignalR itself send 36 as uint 8; any format holding a value is valid.
        #expect(try decode([0xCC, 0x24]) == .int(36))
        #expect(try decode([0xD0, 0x01]) == .int(1))
        #expect(try decode([0xD3, 0, 0, 0, 0, 0, 0, 0, 0x05]) == .int(5))
        #expect(try decode([0xCF, 0, 0, 0, 0, 0, 0, 0, 0x05]) == .int(5))
        #expect(try decode([0xD9, 0x01, 0x61]) == .string("a"))
        #expect(try decode([0xDC, 0x00, 0x01, 0xC0]) == .array([.nil]))
        #expect(try decode([0xDE, 0x00, 0x00]) == .map([]))
        #expect(try decode([0xC5, 0x00, 0x01, 0xAA]) == .binary(ByteBuffer(bytes: [0xAA])))
        #expect(try decode([0xC8, 0x00, 0x01, 0x05, 0xAA]) == .ext(type: 5, data: ByteBuffer(bytes: [0xAA])))
    }

    @Test func timestampsInTheirThreeForms() throws {
        // timestamp 32: seconds only, in 32 bits.
        let t32: [UInt8] = [0xD6, 0xFF, 0x5F, 0x5E, 0x10, 0x00]
        #expect(try decode(t32).timestampValue == MessagePackTimestamp(seconds: 0x5F5E_1000))
        // timestamp 64: 30-bit nanoseconds, 34-bit seconds.
        let nanoseconds: UInt64 = 999_999_999
        let packed = nanoseconds << 34 | 0x3_0000_0001
        let t64 = bytes([0xD7, 0xFF], (0..<8).map { UInt8(truncatingIfNeeded: packed >> (56 - 8 * $0)) })
        #expect(
            try decode(t64).timestampValue == MessagePackTimestamp(seconds: 0x3_0000_0001, nanoseconds: 999_999_999))
        // timestamp 96: 32-bit nanoseconds, 64-bit signed seconds (here before 1970).
        let t96: [UInt8] =
            bytes([0xC7, 0x0C, 0xFF, 0x00, 0x00, 0x00, 0x01], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE])
        #expect(try decode(t96).timestampValue == MessagePackTimestamp(seconds: -2, nanoseconds: 1))
        // Each encodes back in the form it came in, the smallest that holds it.
        for bytes in [t32, t64, t96] {
            var buffer = ByteBuffer()
            buffer.writeMessagePackTimestamp(try #require(try decode(bytes).timestampValue))
            #expect(Array(buffer.readableBytesView) == bytes)
        }
        #expect(encode(MessagePackTimestamp(seconds: 1, nanoseconds: 1).value).first == 0xD7)
        #expect(encode(MessagePackTimestamp(seconds: 1 << 34).value).prefix(3) == [0xC7, 0x0C, 0xFF])
    }

    @Test func refusesMalformedTimestamps() {
        // A length other than 4, 8 or 12.
        #expect(throws: SignalRWireError.self) { try decode([0xD5, 0xFF, 0x00, 0x00]) }
        #expect(throws: SignalRWireError.self) { try decode([0xC7, 0x03, 0xFF, 0x00, 0x00, 0x00]) }
        // Nanoseconds over 999,999,999 in the 64- and 96-bit forms.
        let packed = UInt64(1_000_000_000) << 34
        #expect(throws: SignalRWireError.self) {
            try decode(bytes([0xD7, 0xFF], (0..<8).map { UInt8(truncatingIfNeeded: packed >> (56 - 8 * $0)) }))
        }
        #expect(throws: SignalRWireError.self) {
            try decode(bytes([0xC7, 0x0C, 0xFF, 0x3B, 0x9A, 0xCA, 0x00], [UInt8](repeating: 0, count: 8)))
        }
        // Other extension types are opaque.
        #expect((try? decode([0xD5, 0x01, 0x00, 0x00])) != nil)
    }
}
