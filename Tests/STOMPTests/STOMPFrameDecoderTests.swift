import NIOCore
import STOMPWire
import SwitchboardTestSupport
import Testing

/// The frame decoder: the spec's example frames, bodies with and without `content-length`, heart-beats
/// between frames, escaping per version, every limit, and reads split anywhere.
@Suite struct STOMPFrameDecoderTests {
    func decode(_ text: String, escaping: STOMPEscaping = .v1_2, limits: STOMPLimits = STOMPLimits())
        throws(STOMPError) -> STOMPFrame?
    {
        var buffer = ByteBuffer(string: text)
        return try STOMPFrameDecoder.decode(&buffer, escaping: escaping, limits: limits)
    }

    @Test func specConnectExample() throws {
        // STOMP 1.2 §"CONNECT or STOMP Frame".
        let frame = try #require(try decode("CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0"))
        #expect(frame.command == .connect)
        #expect(frame.headers["accept-version"] == "1.2")
        #expect(frame.headers["host"] == "stomp.github.org")
        #expect(frame.body.readableBytes == 0)
    }

    @Test func specSendExampleWithBody() throws {
        // §"SEND".
        let frame = try #require(
            try decode("SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\n\0"))
        #expect(frame.command == .send)
        #expect(frame.headers["destination"] == "/queue/a")
        #expect(String(buffer: frame.body) == "hello queue a\n")
    }

    @Test func contentLengthCarriesNULs() throws {
        var buffer = ByteBuffer(string: "SEND\ndestination:/topic/x\ncontent-length:5\n\n")
        buffer.writeBytes([1, 0, 2, 0, 3, 0])
        buffer.writeString("\n")
        let frame = try #require(try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: STOMPLimits()))
        #expect(Array(frame.body.readableBytesView) == [1, 0, 2, 0, 3])
        #expect(buffer.readableBytes == 1, "the EOL after the frame waits as a heart-beat")
    }

    @Test func contentLengthNotFollowedByNULIsMalformed() {
        #expect(throws: STOMPError.self) {
            _ = try decode("SEND\ndestination:/topic/x\ncontent-length:2\n\nabc\0")
        }
    }

    @Test func crlfLineEndingsAndHeartBeats() throws {
        var buffer = ByteBuffer(
            string: "\n\r\n\nSEND\r\ndestination:/topic/x\r\n\r\nhi\0\n\nSEND\ndestination:/topic/y\n\n\0")
        let first = try #require(try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: STOMPLimits()))
        #expect(first.headers["destination"] == "/topic/x")
        #expect(String(buffer: first.body) == "hi")
        let second = try #require(try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: STOMPLimits()))
        #expect(second.headers["destination"] == "/topic/y")
        #expect(buffer.readableBytes == 0)
    }

    @Test func heartBeatsAloneAreSkipped() throws {
        var buffer = ByteBuffer(string: "\n\n\r\n")
        #expect(try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: STOMPLimits()) == nil)
        #expect(buffer.readableBytes == 4, "decode consumes nothing when it needs more")
        #expect(STOMPFrameDecoder.skipHeartBeats(&buffer) == 4)
        #expect(buffer.readableBytes == 0)
        buffer.writeString("\r")
        #expect(STOMPFrameDecoder.skipHeartBeats(&buffer) == 0, "a CR waits for its LF")
    }

    @Test func repeatedHeaderFirstWins() throws {
        // §"Repeated Header Entries".
        let frame = try #require(try decode("MESSAGE\nfoo:World\nfoo:Hello\n\n\0"))
        #expect(frame.headers["foo"] == "World")
        #expect(frame.headers.count == 2)
    }

    @Test func escapesDecodeIn12() throws {
        let frame = try #require(try decode("SEND\ndestination:/topic/x\na\\cb:1\\n2\\r3\\\\4\n\n\0"))
        #expect(frame.headers["a:b"] == "1\n2\r3\\4")
    }

    @Test func carriageReturnEscapeIsUndefinedIn11() {
        #expect(throws: STOMPError.self) {
            _ = try decode("SEND\ndestination:/topic/x\na:1\\r\n\n\0", escaping: .v1_1)
        }
    }

    @Test func undefinedEscapeIsAnError() {
        // §"Value Encoding": undefined escape sequences such as \t MUST be treated as a fatal error.
        #expect(throws: STOMPError.self) { _ = try decode("SEND\ndestination:/topic/x\na:\\t\n\n\0") }
    }

    @Test func version10DoesNotUnescape() throws {
        let frame = try #require(try decode("SEND\ndestination:/topic/x\na:\\n\n\n\0", escaping: .none))
        #expect(frame.headers["a"] == "\\n")
    }

    @Test func connectHeadersAreNeverUnescaped() throws {
        // CONNECT and CONNECTED frames do not escape (a passcode may hold a backslash).
        let frame = try #require(try decode("CONNECT\npasscode:a\\tb\n\n\0"))
        #expect(frame.headers["passcode"] == "a\\tb")
    }

    @Test func colonInValueIsKept() throws {
        let frame = try #require(try decode("SEND\ndestination:/topic/x\ntime:12:30\n\n\0", escaping: .none))
        #expect(frame.headers["time"] == "12:30")
    }

    @Test func unknownCommandIsMalformed() {
        #expect(throws: STOMPError.self) { _ = try decode("HELLO\n\n\0") }
    }

    @Test func headerWithoutColonIsMalformed() {
        #expect(throws: STOMPError.self) { _ = try decode("SEND\ndestination\n\n\0") }
    }

    @Test func incompleteFramesNeedMore() throws {
        for partial in ["SEND", "SEND\ndest", "SEND\ndestination:/q\n", "SEND\ndestination:/q\n\nbody"] {
            var buffer = ByteBuffer(string: partial)
            #expect(try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: STOMPLimits()) == nil)
            #expect(buffer.readableBytes == partial.utf8.count, "nothing consumed of \(partial.debugDescription)")
        }
    }

    @Test func limitsAreCheckedBeforeTheFrameIsWhole() {
        var limits = STOMPLimits()
        limits.maxHeaders = 2
        #expect(throws: STOMPError.tooLarge("more than 2 headers")) {
            _ = try decode("SEND\na:1\nb:2\nc:3\n", limits: limits)
        }
        limits = STOMPLimits()
        limits.maxHeaderBytes = 256
        #expect(throws: STOMPError.self) {
            _ = try decode("SEND\n" + String(repeating: "x", count: 300), limits: limits)
        }
        limits = STOMPLimits()
        limits.maxBodyBytes = 10
        #expect(throws: STOMPError.self) { _ = try decode("SEND\ncontent-length:11\n\n", limits: limits) }
        #expect(throws: STOMPError.self) {
            _ = try decode("SEND\n\n" + String(repeating: "x", count: 11), limits: limits)
        }
    }

    @Test func badContentLength() {
        #expect(throws: STOMPError.self) { _ = try decode("SEND\ncontent-length:-1\n\n\0") }
        #expect(throws: STOMPError.self) { _ = try decode("SEND\ncontent-length:12a\n\n\0") }
    }

    @Test func dripFeedAndRandomSplitsDecodeTheSame() throws {
        var stream: [UInt8] = []
        stream += Array("CONNECT\naccept-version:1.2\n\n\0\n".utf8)
        stream += Array("SEND\ndestination:/topic/a\ncontent-length:3\n\nx\0y\0\r\n".utf8)
        stream += Array("SUBSCRIBE\nid:0\ndestination:/queue/q\nack:client\n\n\0".utf8)
        stream += Array("SEND\ndestination:/queue/q\nk:a\\cb\n\nno length\0".utf8)
        let whole = ReadFeeder.decode([stream]) { (buffer: inout ByteBuffer) throws(STOMPError) in
            try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: STOMPLimits())
        }
        #expect(whole.values.count == 4)
        #expect(whole.values[3].headers["k"] == "a:b")
        let bytewise = ReadFeeder.decode(stream.map { [$0] }) { (buffer: inout ByteBuffer) throws(STOMPError) in
            try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: STOMPLimits())
        }
        #expect(bytewise.values == whole.values)
        #expect(!bytewise.needMoreMovedTheReaderIndex)
        var random = SplitMix(state: 7)
        for _ in 0..<50 {
            let reads = stream.randomReads(sizes: 1...17, using: &random)
            let split = ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(STOMPError) in
                try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: STOMPLimits())
            }
            #expect(split.values == whole.values)
            // Resuming the first pass where the last read left it decodes the same.
            var progress = STOMPFrameDecoder.Progress()
            let resumed = ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(STOMPError) in
                try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: STOMPLimits(), progress: &progress)
            }
            #expect(resumed.values == whole.values)
            #expect(!resumed.needMoreMovedTheReaderIndex)
        }
    }

    /// A frame read a byte at a time, resuming: each error is the one the whole frame gives, at the read
    /// that completes what it is about, with the frame's receipt named.
    @Test func resumedReadsFindTheSameErrors() {
        var limits = STOMPLimits()
        limits.maxHeaders = 3
        limits.maxBodyBytes = 20
        let frames = [
            "SEND\nreceipt:r1\nnoColon\n\n\0",
            "HELLO\n\n\0",
            "SEND\na:1\nb:2\nc:3\nd:4\n\n\0",
            "SEND\nreceipt:r2\ncontent-length:3\n\nabcX",
            "SEND\nreceipt:r3\n\n" + String(repeating: "x", count: 25),
            "SEND\ncontent-length:1x\n\n\0",
        ]
        for frame in frames {
            let bytes = Array(frame.utf8)
            let whole = ReadFeeder.decode([bytes]) { (buffer: inout ByteBuffer) throws(STOMPError) in
                try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: limits)
            }
            var progress = STOMPFrameDecoder.Progress()
            let resumed = ReadFeeder.decode(bytes.map { [$0] }) { (buffer: inout ByteBuffer) throws(STOMPError) in
                try STOMPFrameDecoder.decode(&buffer, escaping: .v1_2, limits: limits, progress: &progress)
            }
            #expect(whole.error != nil, "\(frame.debugDescription)")
            #expect(resumed.error == whole.error, "\(frame.debugDescription)")
            #expect(resumed.error?.receiptID == whole.error?.receiptID, "\(frame.debugDescription)")
        }
    }

    /// A progress from another buffer (fewer bytes than it saw) is dropped, not trusted.
    @Test func aProgressLongerThanTheBufferStartsOver() throws {
        var progress = STOMPFrameDecoder.Progress()
        var partial = ByteBuffer(string: "SEND\ndestination:/topic/a\nx:")
        let none = try STOMPFrameDecoder.decode(&partial, escaping: .v1_2, limits: STOMPLimits(), progress: &progress)
        #expect(none == nil)
        var other = ByteBuffer(string: "ACK\nid:1\n\n\0")
        let frame = try #require(
            try STOMPFrameDecoder.decode(&other, escaping: .v1_2, limits: STOMPLimits(), progress: &progress))
        #expect(frame.command == .ack && frame.headers["id"] == "1")
    }
}
