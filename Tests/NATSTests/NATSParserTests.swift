import NIOCore
import SwitchboardTestSupport
import Testing

@testable import NATSWire

/// The parser, byte by byte and in random chunks, against operations written out by hand from the
/// protocol documentation (docs.nats.io "Client Protocol").
@Suite struct NATSParserTests {
    let parser = NATSParser()

    /// What a connection parses when these reads arrive.
    func reads(_ chunks: [[UInt8]]) -> ReadFeeder.Decoded<NATSClientOperation, NATSProtocolError> {
        let decoded = ReadFeeder.decode(chunks, parser.next)
        #expect(!decoded.needMoreMovedTheReaderIndex)
        return decoded
    }

    /// Every operation in `chunks`, fed as a connection receives them.
    func parse(_ chunks: [[UInt8]]) throws(NATSProtocolError) -> [NATSClientOperation] {
        let decoded = reads(chunks)
        if let error = decoded.error { throw error }
        return decoded.values
    }

    func parse(_ text: String) throws(NATSProtocolError) -> [NATSClientOperation] { try parse([Array(text.utf8)]) }

    static let stream =
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"svc a\",\"lang\":\"python3\",\"headers\":true,"
        + "\"no_responders\":true,\"protocol\":1,\"echo\":false,\"auth_token\":\"t\"}\r\n"
        + "SUB foo.* 1\r\nsub\tbar\tq\t2\r\nPUB foo.bar 5\r\nhello\r\npub foo.bar _INBOX.1 0\r\n\r\n"
        + "HPUB foo.h 24 29\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\nworld\r\nHPUB foo.h rep 12 12\r\nNATS/1.0\r\n\r\n\r\n"
        + "UNSUB 1\r\nUNSUB 2 10\r\nPING\r\nPONG\r\n+OK\r\n-ERR 'x'\r\nINFO {}\r\nPUB a 2\r\n\r\n\r\n"

    static let expected: [NATSClientOperation] = {
        var options = NATSConnectOptions()
        options.name = "svc a"
        options.lang = "python3"
        options.headers = true
        options.noResponders = true
        options.protocolLevel = 1
        options.echo = false
        options.authToken = "t"
        return [
            .connect(options),
            .subscribe(subject: "foo.*", queue: nil, sid: "1"),
            .subscribe(subject: "bar", queue: "q", sid: "2"),
            .publish(NATSPublish(subject: ByteBuffer(string: "foo.bar"), payload: ByteBuffer(string: "hello"))),
            .publish(
                NATSPublish(
                    subject: ByteBuffer(string: "foo.bar"), replyTo: ByteBuffer(string: "_INBOX.1"),
                    payload: ByteBuffer())),
            .publish(
                NATSPublish(
                    subject: ByteBuffer(string: "foo.h"),
                    headers: ByteBuffer(string: "NATS/1.0\r\nA: b\r\nC: d\r\n\r\n"),
                    payload: ByteBuffer(string: "world"))),
            .publish(
                NATSPublish(
                    subject: ByteBuffer(string: "foo.h"), replyTo: ByteBuffer(string: "rep"),
                    headers: ByteBuffer(string: "NATS/1.0\r\n\r\n"), payload: ByteBuffer())),
            .unsubscribe(sid: "1", maxMessages: nil),
            .unsubscribe(sid: "2", maxMessages: 10),
            .ping, .pong, .ignored, .ignored, .ignored,
            .publish(NATSPublish(subject: ByteBuffer(string: "a"), payload: ByteBuffer(string: "\r\n"))),
        ]
    }()

    @Test func wholeStream() throws {
        #expect(try parse(Self.stream) == Self.expected)
    }

    @Test func byteByByte() throws {
        #expect(try parse(Array(Self.stream.utf8).byteByByte) == Self.expected)
    }

    @Test func randomChunks() throws {
        var random = SplitMix(state: 3)
        let bytes = Array(Self.stream.utf8)
        for _ in 0..<200 {
            #expect(try parse(bytes.randomReads(sizes: 1...40, using: &random)) == Self.expected)
        }
    }

    @Test func incompleteOperationLeavesTheBufferUntouched() throws {
        for text in ["PUB foo 5\r\nhel", "PUB foo 5\r\nhello\r", "SUB foo", "PING\r"] {
            var buffer = ByteBuffer(string: text)
            #expect(try parser.next(&buffer) == nil)
            #expect(buffer.readerIndex == 0 && buffer.readableBytes == text.utf8.count)
        }
    }

    @Test func payloadsAreSlicesOfTheReadBuffer() throws {
        var buffer = ByteBuffer(string: "PUB foo 5\r\nhello\r\n")
        let start = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        guard case .publish(let publish) = try parser.next(&buffer) else {
            Issue.record("not a publish")
            return
        }
        // The payload's bytes are where they were read: nothing was copied on the way.
        let payload = publish.payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(payload == start + 11)
    }

    @Test(arguments: [
        ("FOO\r\n", NATSProtocolError.unknownOperation),
        ("PUBX a 1\r\n", .unknownOperation),
        ("PUB a\r\n", .malformed("PUB <subject> [reply] <size>")),
        ("PUB a b c 1\r\n", .malformed("PUB <subject> [reply] <size>")),
        ("PUB a -1\r\n", .malformed("message size must be a number")),
        ("PUB a 2\r\nabc\r\n", .malformed("payload must be followed by CRLF")),
        ("PUB a 1048577\r\n", .maxPayloadViolation),
        ("HPUB a 10 5\r\n", .malformed("header size must be a number between 4 and the total size")),
        ("SUB a\r\n", .malformed("SUB <subject> [queue] <sid>")),
        ("UNSUB\r\n", .malformed("UNSUB <sid> [max_msgs]")),
        ("UNSUB 1 x\r\n", .malformed("UNSUB max_msgs must be a number")),
        ("PING x\r\n", .malformed("PING takes no arguments")),
        ("PUB a b c d e f\r\n", .malformed("too many arguments")),
        ("\r\n", .unknownOperation),
    ])
    func malformed(input: String, error: NATSProtocolError) {
        #expect(throws: error) { _ = try parse(input) }
    }

    @Test func controlLineLimitIsCheckedBeforeTheLineEnds() {
        // No CRLF yet, but already longer than any valid control line: refused without waiting.
        var buffer = ByteBuffer(string: "SUB " + String(repeating: "x", count: 5000))
        #expect(throws: NATSProtocolError.maxControlLineExceeded) { _ = try parser.next(&buffer) }
    }

    /// Issue 25: every connection holds a parser, so the parser is one reference to limits its frontend
    /// shares (a copy of the limits was 56 B per idle connection), and a copy applies the same limits.
    @Test func copiesShareTheirLimits() {
        var limits = NATSLimits()
        limits.maxPayload = 4
        limits.maxControlLine = 32
        let copy = NATSParser(limits: limits)
        let parser = copy
        #expect(MemoryLayout<NATSParser>.size == MemoryLayout<AnyObject>.size)
        #expect(parser.limits == limits)
        var buffer = ByteBuffer(string: "PUB a 4\r\nabcd\r\nPUB a 5\r\n")
        #expect(throws: Never.self) { _ = try parser.next(&buffer) }
        #expect(throws: NATSProtocolError.maxPayloadViolation) { _ = try parser.next(&buffer) }
        var long = ByteBuffer(string: "SUB " + String(repeating: "x", count: 40))
        #expect(throws: NATSProtocolError.maxControlLineExceeded) { _ = try parser.next(&long) }
    }

    @Test func connectWithBadJSONIsMalformed() {
        #expect(throws: NATSProtocolError.self) { _ = try parse("CONNECT {\"verbose\":1}\r\n") }
        #expect(throws: NATSProtocolError.self) { _ = try parse("CONNECT [1]\r\n") }
        #expect(throws: NATSProtocolError.self) { _ = try parse("CONNECT {\r\n") }
    }

    @Test func mutatedStreamsParseAlikeWhateverTheReads() {
        // Seeded mutations: never a crash, and the same operations (and error) however reads split.
        var random = SplitMix(state: 7)
        let alphabet = Array("PUBSUBHCONNECTINGPONG .*>\r\n\t0123456789{}\":".utf8) + [0x00, 0xFF]
        let mutator = ByteMutator(alphabet: alphabet)
        let seed = Array(Self.stream.utf8)
        for _ in 0..<3000 {
            var bytes = mutator.mutate(seed, edits: 1...4, using: &random)
            if bytes.isEmpty { bytes = seed }
            let whole = reads([bytes])
            let split = Int.random(in: 0...bytes.count, using: &random)
            let halves = reads([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(whole.values == halves.values)
            #expect(whole.error == halves.error)
        }
    }
}
