import NIOCore
import STOMPWire
import Testing

/// The encoder's golden bytes, escaping per version and its round trip through the decoder.
@Suite struct STOMPFrameEncoderTests {
    func encoded(_ frame: STOMPFrame, escaping: STOMPEscaping = .v1_2) -> String {
        var out = ByteBuffer()
        STOMPFrameEncoder.write(frame, escaping: escaping, to: &out)
        return String(buffer: out)
    }

    @Test func receiptGoldenBytes() {
        // §"RECEIPT": RECEIPT, receipt-id, blank line, NUL.
        let frame = STOMPFrame(.receipt, headers: STOMPHeaders([("receipt-id", "message-12345")]))
        #expect(encoded(frame) == "RECEIPT\nreceipt-id:message-12345\n\n\0")
    }

    @Test func bodyGetsContentLength() {
        let frame = STOMPFrame(.message, headers: STOMPHeaders([("destination", "/queue/a")]), body: "hello")
        #expect(encoded(frame) == "MESSAGE\ndestination:/queue/a\ncontent-length:5\n\nhello\0")
    }

    @Test func errorFrameNamesTheReceipt() {
        let error = STOMPError("malformed frame received", detail: "oops", receiptID: "77")
        #expect(
            encoded(error.frame)
                == "ERROR\nmessage:malformed frame received\nreceipt-id:77\ncontent-type:text/plain\ncontent-length:4\n\noops\0"
        )
    }

    @Test func escapingPerVersion() {
        let frame = STOMPFrame(.message, headers: STOMPHeaders([("a:b", "1\n2\r3\\4")]))
        #expect(encoded(frame, escaping: .v1_2) == "MESSAGE\na\\cb:1\\n2\\r3\\\\4\n\n\0")
        #expect(encoded(frame, escaping: .v1_1) == "MESSAGE\na\\cb:1\\n2\r3\\\\4\n\n\0")
        let connected = STOMPFrame(.connected, headers: STOMPHeaders([("server", "a:b")]))
        #expect(encoded(connected) == "CONNECTED\nserver:a:b\n\n\0", "CONNECTED is never escaped")
    }

    @Test func escapingRoundTrips() throws {
        let values = ["plain", "colon:inside", "new\nline", "back\\slash", "cr\rlf\n", ":\\:\\n", ""]
        for value in values {
            let frame = STOMPFrame(.send, headers: STOMPHeaders([("destination", "/topic/x"), ("h" + value, value)]))
            var out = ByteBuffer()
            STOMPFrameEncoder.write(frame, escaping: .v1_2, to: &out)
            let decoded = try #require(try STOMPFrameDecoder.decode(&out, escaping: .v1_2, limits: STOMPLimits()))
            #expect(decoded.headers["h" + value] == value)
        }
    }

    @Test func decimals() {
        for value in [0, 7, 10, 99, 100, 123_456_789, Int.max] {
            var out = ByteBuffer()
            STOMPFrameEncoder.writeDecimal(value, to: &out)
            #expect(String(buffer: out) == String(value))
        }
    }
}

@Suite struct STOMPNegotiationTests {
    @Test func versions() {
        // §"Protocol Negotiation".
        #expect(STOMPVersion.negotiate(acceptVersion: nil) == .v1_0)
        #expect(STOMPVersion.negotiate(acceptVersion: "1.0,1.1,2.1") == .v1_1)
        #expect(STOMPVersion.negotiate(acceptVersion: "1.2, 1.0") == .v1_2)
        #expect(STOMPVersion.negotiate(acceptVersion: "2.0") == nil)
        #expect(STOMPVersion.negotiate(acceptVersion: "") == nil)
    }

    @Test func heartBeats() throws {
        // §"Heart-beating": the client sends every max(cx, sy), the server every max(sx, cy).
        let beat = try #require(STOMPHeartBeat(header: "4000,6000"))
        #expect(beat.serverOffer(minimum: 500) == (6000, 4000))
        #expect(beat.negotiated(minimum: 500) == (6000, 4000))
        let fast = try #require(STOMPHeartBeat(header: "100,100"))
        #expect(fast.negotiated(minimum: 500) == (500, 500))
        let none = try #require(STOMPHeartBeat(header: nil))
        #expect(none.negotiated(minimum: 500) == (0, 0))
        let sendOnly = try #require(STOMPHeartBeat(header: "1000,0"))
        #expect(sendOnly.negotiated(minimum: 500) == (0, 1000))
        #expect(STOMPHeartBeat(header: "1000") == nil)
        #expect(STOMPHeartBeat(header: "a,b") == nil)
        #expect(STOMPHeartBeat(header: "-1,0") == nil)
    }

    @Test func destinations() {
        #expect(STOMPDestination("/topic/a.b") == .topic("a.b"))
        #expect(STOMPDestination("/queue/jobs") == .queue("jobs"))
        #expect(STOMPDestination("/amq/queue/jobs") == .amqQueue("jobs"))
        #expect(STOMPDestination("/exchange/logs/error.db") == .exchange("logs", key: "error.db"))
        #expect(STOMPDestination("/exchange/logs") == .exchange("logs", key: ""))
        #expect(STOMPDestination("/exchange/logs/a/b") == .exchange("logs", key: "a/b"))
        #expect(STOMPDestination("/temp-queue/r") == .temporaryQueue("r"))
        #expect(STOMPDestination("/reply-queue/amq.gen-1") == .replyQueue("amq.gen-1"))
        for invalid in ["/topic/", "/queue/", "/exchange/", "/foo/bar", "queue/x", ""] {
            #expect(STOMPDestination(invalid) == nil, "\(invalid)")
        }
    }
}
