import AMQPWire
import NIOCore
import SwitchboardTestSupport
import Testing

/// Field tables and arrays (§4.2.5.5) with RabbitMQ's type letters: every type against its bytes, round
/// trips, order, nesting and the limits.
@Suite struct AMQPFieldTableTests {
    typealias B = AMQPBytes

    /// (value, type letter and value bytes) for every RabbitMQ type.
    static let values: [(AMQPFieldValue, [UInt8])] = [
        (.boolean(true), [0x74, 1]),
        (.boolean(false), [0x74, 0]),
        (.int8(-2), [0x62, 0xFE]),
        (.uint8(200), [0x42, 200]),
        // RabbitMQ's `s` is signed 16-bit (the spec's text says short string).
        (.int16(-3), [0x73, 0xFF, 0xFD]),
        (.uint16(65_000), [0x75] + B.u16(65_000)),
        (.int32(-1), [0x49, 0xFF, 0xFF, 0xFF, 0xFF]),
        (.uint32(4_000_000_000), [0x69] + B.u32(4_000_000_000)),
        // RabbitMQ's `l` is signed 64-bit.
        (.int64(-5), [0x6C] + B.u64(UInt64(bitPattern: -5))),
        (.float(1.5), [0x66, 0x3F, 0xC0, 0x00, 0x00]),
        (.double(-2.25), [0x64, 0xC0, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        (.decimal(scale: 2, value: 12_345), [0x44, 2] + B.u32(12_345)),
        (.string("héllo"), [0x53] + B.ls("héllo")),
        (.bytes(ByteBuffer(bytes: [0, 0xFF])), [0x78] + B.ls([0, 0xFF])),
        (.array([.int8(1), .void]), [0x41] + B.u32(3) + [0x62, 1, 0x56]),
        (.timestamp(1_700_000_000), [0x54] + B.u64(1_700_000_000)),
        (.table(["k": .boolean(true)]), [0x46] + B.table(B.ss("k") + [0x74, 1])),
        (.void, [0x56]),
    ]

    @Test(arguments: 0..<18)
    func everyTypeGolden(index: Int) throws {
        let (value, bytes) = Self.values[index]
        var encoded = ByteBuffer()
        encoded.writeAMQPFieldValue(value)
        #expect(Array(encoded.readableBytesView) == bytes)
        var buffer = ByteBuffer(bytes: bytes)
        #expect(try buffer.readAMQPFieldValue(maxDepth: 16, depth: 1) == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test func everyTypeInOneTableKeepsOrder() throws {
        var table = AMQPFieldTable()
        for (index, (value, _)) in Self.values.enumerated() {
            table.fields.append(.init(name: "k\(index)", value: value))
        }
        var buffer = ByteBuffer()
        buffer.writeAMQPFieldTable(table)
        let expectedBody = Self.values.enumerated().flatMap { B.ss("k\($0.offset)") + $0.element.1 }
        #expect(Array(buffer.readableBytesView) == B.table(expectedBody))
        let decoded = try buffer.readAMQPFieldTable(maxDepth: 16)
        #expect(decoded == table)
        #expect(decoded.fields.map(\.name) == (0..<Self.values.count).map { "k\($0)" })
    }

    @Test func lookupAndUpdate() {
        var table: AMQPFieldTable = ["b": .int32(1), "a": .int32(2)]
        #expect(table["a"] == .int32(2))
        table["b"] = .int32(3)
        table["c"] = .void
        #expect(table.fields.map(\.name) == ["b", "a", "c"])
        #expect(table["b"] == .int32(3))
        table["a"] = nil
        #expect(table.fields.map(\.name) == ["b", "c"])
        #expect(AMQPFieldValue.string("x").stringValue == "x")
        #expect(AMQPFieldValue.int32(1).stringValue == nil)
    }

    @Test func emptyTableIsFourZeroOctets() {
        var buffer = ByteBuffer()
        buffer.writeAMQPFieldTable([:])
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 0])
    }

    @Test func unknownTypeLetterIsRefused() {
        // `U` and `L` are pika's aliases that RabbitMQ does not accept.
        for letter in [UInt8(ascii: "U"), UInt8(ascii: "L"), UInt8(ascii: "z")] {
            var buffer = ByteBuffer(bytes: B.table(B.ss("k") + [letter, 0, 0, 0, 0, 0, 0, 0, 0]))
            #expect(throws: AMQPError.malformed("unknown field type \(letter)")) {
                try buffer.readAMQPFieldTable(maxDepth: 16)
            }
        }
    }

    @Test func lengthsPastTheFrameAreRefusedBeforeReading() {
        // A table claiming 4 GiB in a few bytes: refused from the length alone.
        var table = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(throws: AMQPError.malformed("table longer than the frame")) {
            try table.readAMQPFieldTable(maxDepth: 16)
        }
        var string = ByteBuffer(bytes: B.table(B.ss("k") + [0x53, 0x7F, 0xFF, 0xFF, 0xFF]))
        #expect(throws: AMQPError.malformed("long string longer than the frame")) {
            try string.readAMQPFieldTable(maxDepth: 16)
        }
        var array = ByteBuffer(bytes: B.table(B.ss("k") + [0x41, 0, 0, 1, 0]))
        #expect(throws: AMQPError.malformed("array longer than the frame")) {
            try array.readAMQPFieldTable(maxDepth: 16)
        }
    }

    /// `depth` tables, each the only value of the one around it.
    static func nested(_ depth: Int) -> AMQPFieldTable {
        var table: AMQPFieldTable = ["leaf": .void]
        for _ in 1..<depth { table = ["t": .table(table)] }
        return table
    }

    @Test func nestingIsLimited() throws {
        var atLimit = ByteBuffer()
        atLimit.writeAMQPFieldTable(Self.nested(4))
        #expect(try atLimit.readAMQPFieldTable(maxDepth: 4) == Self.nested(4))
        var tooDeep = ByteBuffer()
        tooDeep.writeAMQPFieldTable(Self.nested(5))
        #expect(throws: AMQPError.malformed("field tables nested deeper than 4")) {
            try tooDeep.readAMQPFieldTable(maxDepth: 4)
        }
        // Arrays count as a level too.
        var arrays = ByteBuffer()
        arrays.writeAMQPFieldTable(["a": .array([.array([.array([.void])])])])
        #expect(throws: AMQPError.malformed("field arrays nested deeper than 3")) {
            try arrays.readAMQPFieldTable(maxDepth: 3)
        }
        // A deep table inside a method is refused with the method named.
        let declare = AMQPMethod.queue(.declare(AMQPQueueDeclare(queue: "q", arguments: Self.nested(20))))
        #expect(throws: AMQPError.malformed("field tables nested deeper than 16", classID: 50, methodID: 10)) {
            try decodeMethodFrame(declare.frameBytes(channel: 1))
        }
    }

    /// A random value, nested at most `depth` deep (no NaN: it is not equal to itself).
    static func randomValue(depth: Int, using random: inout SplitMix) -> AMQPFieldValue {
        let kind = Int.random(in: 0..<(depth > 1 ? 17 : 15), using: &random)
        switch kind {
        case 0: return .boolean(Bool.random(using: &random))
        case 1: return .int8(Int8.random(in: .min ... .max, using: &random))
        case 2: return .uint8(UInt8.random(in: .min ... .max, using: &random))
        case 3: return .int16(Int16.random(in: .min ... .max, using: &random))
        case 4: return .uint16(UInt16.random(in: .min ... .max, using: &random))
        case 5: return .int32(Int32.random(in: .min ... .max, using: &random))
        case 6: return .uint32(UInt32.random(in: .min ... .max, using: &random))
        case 7: return .int64(Int64.random(in: .min ... .max, using: &random))
        case 8: return .float(Float.random(in: -1e6...1e6, using: &random))
        case 9: return .double(Double.random(in: -1e12...1e12, using: &random))
        case 10: return .decimal(scale: UInt8.random(in: 0...10, using: &random), value: random.next())
        case 11:
            return .longString(
                ByteBuffer(bytes: (0..<Int.random(in: 0...20, using: &random)).map { _ in random.next() }))
        case 12:
            return .bytes(ByteBuffer(bytes: (0..<Int.random(in: 0...20, using: &random)).map { _ in random.next() }))
        case 13: return .timestamp(random.next())
        case 14: return .void
        case 15:
            return .array(
                (0..<Int.random(in: 0...4, using: &random)).map { _ in randomValue(depth: depth - 1, using: &random) })
        default: return .table(randomTable(depth: depth - 1, using: &random))
        }
    }

    static func randomTable(depth: Int, using random: inout SplitMix) -> AMQPFieldTable {
        AMQPFieldTable(
            (0..<Int.random(in: 0...5, using: &random)).map { index in
                .init(name: "f\(index)-\(random.next() % 1000)", value: randomValue(depth: depth, using: &random))
            })
    }

    @Test func randomTablesRoundTrip() throws {
        var random = SplitMix(state: 0xA3C9)
        for _ in 0..<500 {
            let table = Self.randomTable(depth: 4, using: &random)
            var buffer = ByteBuffer()
            buffer.writeAMQPFieldTable(table)
            #expect(try buffer.readAMQPFieldTable(maxDepth: 4) == table)
            #expect(buffer.readableBytes == 0)
        }
    }
}
