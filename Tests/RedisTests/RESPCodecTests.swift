import NIOCore
import RedisWire
import Testing

/// RESP3 spec examples (redis-specifications/protocol/RESP3.md) and RESP2 replies: golden bytes, round
/// trips of every type, every split point, malformed input and the limits.
@Suite struct RESPCodecTests {
    /// One value of every type (nested where the type nests), with its bytes.
    static let golden: [(String, RESPValue)] = [
        ("+OK\r\n", .simpleString("OK")),
        ("-ERR unknown command 'x'\r\n", .simpleError("ERR unknown command 'x'")),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(.max)),
        (":-9223372036854775808\r\n", .integer(.min)),
        ("$5\r\nhello\r\n", .bulkString(ByteBuffer(string: "hello"))),
        ("$0\r\n\r\n", .bulkString(ByteBuffer())),
        ("$4\r\na\r\nb\r\n", .bulkString(ByteBuffer(string: "a\r\nb"))),
        ("$-1\r\n", .bulkString(nil)),
        ("*-1\r\n", .array(nil)),
        ("*0\r\n", .array([])),
        ("*2\r\n:1\r\n*1\r\n+x\r\n", .array([.integer(1), .array([.simpleString("x")])])),
        ("_\r\n", .null),
        (",1.5\r\n", .double(1.5)),
        (",inf\r\n", .double(.infinity)),
        (",-inf\r\n", .double(-.infinity)),
        ("#t\r\n", .boolean(true)),
        ("#f\r\n", .boolean(false)),
        ("(3492890328409238509324850943850943825024385\r\n", .bigNumber("3492890328409238509324850943850943825024385")),
        ("(-12\r\n", .bigNumber("-12")),
        ("!21\r\nSYNTAX invalid syntax\r\n", .bulkError(ByteBuffer(string: "SYNTAX invalid syntax"))),
        ("=15\r\ntxt:Some string\r\n", .verbatimString(format: "txt", ByteBuffer(string: "Some string"))),
        (
            "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
            .map([(.simpleString("first"), .integer(1)), (.simpleString("second"), .integer(2))])
        ),
        ("~3\r\n+a\r\n:1\r\n_\r\n", .set([.simpleString("a"), .integer(1), .null])),
        (
            "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*2\r\n:2039123\r\n:9543892\r\n",
            .attribute(
                [(.simpleString("key-popularity"), .map([(.bulkString(ByteBuffer(string: "a")), .double(0.1923))]))],
                .array([.integer(2_039_123), .integer(9_543_892)]))
        ),
        (
            ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            .push([
                .bulkString(ByteBuffer(string: "message")), .bulkString(ByteBuffer(string: "ch")),
                .bulkString(ByteBuffer(string: "hi")),
            ])
        ),
    ]

    static func decodeOne(_ text: String, limits: RESPLimits = RESPLimits()) throws -> RESPValue? {
        var buffer = ByteBuffer(string: text)
        let value = try RESPDecoder(limits: limits).decode(&buffer)
        if value != nil { #expect(buffer.readableBytes == 0, "bytes left after \(text.debugDescription)") }
        return value
    }

    @Test func goldenBytesDecode() throws {
        for (bytes, value) in Self.golden {
            #expect(try Self.decodeOne(bytes) == value, "\(bytes.debugDescription)")
        }
    }

    @Test func everyTypeRoundTrips() throws {
        for (bytes, value) in Self.golden {
            var encoded = ByteBuffer()
            encoded.writeRESPValue(value)
            #expect(String(buffer: encoded) == bytes, "encoding \(value)")
            #expect(try RESPDecoder().decode(&encoded) == value)
        }
        // NaN equals itself here, so a decoded NaN round-trips too.
        var nan = ByteBuffer()
        nan.writeRESPValue(.double(.nan))
        #expect(String(buffer: nan) == ",nan\r\n")
        #expect(try RESPDecoder().decode(&nan) == .double(.nan))
        #expect(try Self.decodeOne(",1e-5\r\n") == .double(0.00001))
    }

    /// The whole golden stream cut in two at every byte: the first part decodes to the values it holds
    /// entirely and then nil without moving the reader index; with the rest, everything decodes.
    @Test func partialInputAtEverySplitPoint() throws {
        let stream = Self.golden.map(\.0).joined()
        let bytes = Array(stream.utf8)
        let decoder = RESPDecoder()
        for split in 0...bytes.count {
            var buffer = ByteBuffer(bytes: bytes[..<split])
            var values: [RESPValue] = []
            while true {
                let before = buffer.readerIndex
                guard let value = try decoder.decode(&buffer) else {
                    #expect(buffer.readerIndex == before)
                    break
                }
                values.append(value)
            }
            buffer.writeBytes(bytes[split...])
            while let value = try decoder.decode(&buffer) { values.append(value) }
            #expect(values == Self.golden.map(\.1), "split at \(split)")
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func byteByByte() throws {
        let decoder = RESPDecoder()
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for byte in Self.golden.map(\.0).joined().utf8 {
            buffer.writeInteger(byte)
            while let value = try decoder.decode(&buffer) { values.append(value) }
        }
        #expect(values == Self.golden.map(\.1))
    }

    @Test(arguments: [
        "?\r\n",  // no such type
        "+OK\rX",  // CR without LF
        ":12a\r\n", ":\r\n", ":-\r\n", ":9223372036854775808\r\n",  // not a 64-bit integer
        "$-2\r\n", "$abc\r\n", "$3\r\nabcd\r\n",  // bad length, no CRLF after the bytes
        "!-1\r\n", "=-1\r\n", "%-1\r\n", "~-1\r\n", ">-1\r\n",  // only $ and * have nulls
        "=3\r\ntxt\r\n", "=5\r\ntxtxy\r\n",  // verbatim without its "xxx:"
        "_x\r\n", "#x\r\n", "#tt\r\n", ",abc\r\n", ",0x10\r\n", ",infinity\r\n", "(\r\n", "(1.5\r\n",
        "$?\r\n", "*?\r\n",  // streamed values: not supported
        "*2\r\n:1\r\n?\r\n",  // a bad element inside an aggregate
    ])
    func malformedInputThrows(_ text: String) {
        #expect(throws: RESPDecodingError.self) { try Self.decodeOne(text) }
    }

    @Test func limitsAreEnforcedBeforeWaitingForBytes() throws {
        let limits = RESPLimits(maxBulkLength: 8, maxAggregateCount: 2, maxDepth: 2, maxLineLength: 16)
        #expect(throws: RESPDecodingError(.limitExceeded("maxBulkLength"))) {
            try Self.decodeOne("$9\r\n", limits: limits)
        }
        #expect(throws: RESPDecodingError(.limitExceeded("maxBulkLength"))) {
            try Self.decodeOne("!9\r\n", limits: limits)
        }
        #expect(try Self.decodeOne("$8\r\n12345678\r\n", limits: limits) == .bulkString(ByteBuffer(string: "12345678")))
        #expect(throws: RESPDecodingError(.limitExceeded("maxAggregateCount"))) {
            try Self.decodeOne("*3\r\n", limits: limits)
        }
        #expect(throws: RESPDecodingError(.limitExceeded("maxAggregateCount"))) {
            try Self.decodeOne("%3\r\n", limits: limits)
        }
        #expect(try Self.decodeOne("*1\r\n*1\r\n:1\r\n", limits: limits) == .array([.array([.integer(1)])]))
        #expect(throws: RESPDecodingError(.limitExceeded("maxDepth"))) {
            try Self.decodeOne("*1\r\n*1\r\n*1\r\n", limits: limits)
        }
        // A line with no CRLF in sight is refused once it is longer than the limit, not buffered forever.
        #expect(try Self.decodeOne("+0123456789abcdef", limits: limits) == nil)
        #expect(throws: RESPDecodingError(.limitExceeded("maxLineLength"))) {
            try Self.decodeOne("+0123456789abcdefgh", limits: limits)
        }
        #expect(throws: RESPDecodingError(.limitExceeded("maxLineLength"))) {
            try Self.decodeOne("+0123456789abcdefg\r\n", limits: limits)
        }
    }

    @Test func deepNestingIsRefusedByDefault() {
        let deep = String(repeating: "*1\r\n", count: 10_000) + ":1\r\n"
        #expect(throws: RESPDecodingError(.limitExceeded("maxDepth"))) { try Self.decodeOne(deep) }
    }

    @Test func commandsAreArraysOfBulkStrings() {
        var buffer = ByteBuffer()
        buffer.writeRESPCommand(RESPCommand("SET", "key", "va\r\nlue"))
        buffer.writeRESPCommand(RESPCommand([ByteBuffer(string: "PING")]))
        #expect(String(buffer: buffer) == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nva\r\nlue\r\n*1\r\n$4\r\nPING\r\n")
        #expect(RESPCommand("get", "k").name == "GET")
    }

    @Test func bulkValuesAreSlicesOfTheInput() throws {
        var buffer = ByteBuffer(string: "$3\r\nabc\r\n")
        guard case .bulkString(let bytes?) = try RESPDecoder().decode(&buffer) else {
            Issue.record("not a bulk string")
            return
        }
        #expect(bytes.readableBytes == 3)
        #expect(String(buffer: bytes) == "abc")
    }
}
