import NIOCore
import NIOEmbedded
import XCTest

@testable import switchboard_bench

/// The JetStream scenarios' parsing (message lines, statuses, PubAcks, `$JS.ACK` subjects) and their
/// NATS handler, fed byte by byte.
final class JetStreamClientTests: XCTestCase {
    private func parse(_ line: String) -> (NATSMessageLine, [String])? {
        let bytes = Array(line.utf8)
        return bytes.withUnsafeBytes { raw in
            NATSMessageLine.parse(raw).map { parsed in
                (
                    parsed,
                    [parsed.subject, parsed.replyTo].map { String(decoding: raw[$0], as: UTF8.self) }
                )
            }
        }
    }

    func testMessageLines() throws {
        var (line, text) = try XCTUnwrap(parse("MSG bench.js.0 7 11"))
        XCTAssertEqual(text, ["bench.js.0", ""])
        XCTAssertEqual([line.sid, line.headerBytes, line.totalBytes], [7, 0, 11])
        (line, text) = try XCTUnwrap(parse("MSG bench.js.0 2 $JS.ACK.s.c.1.5.5.1700000000000000000.0 256"))
        XCTAssertEqual(text, ["bench.js.0", "$JS.ACK.s.c.1.5.5.1700000000000000000.0"])
        XCTAssertEqual([line.sid, line.headerBytes, line.totalBytes], [2, 0, 256])
        (line, text) = try XCTUnwrap(parse("HMSG _INBOX.x.0 1 28 28"))
        XCTAssertEqual(text, ["_INBOX.x.0", ""])
        XCTAssertEqual([line.sid, line.headerBytes, line.totalBytes], [1, 28, 28])
        (line, text) = try XCTUnwrap(parse("HMSG a  3   r  12   40"))
        XCTAssertEqual(text, ["a", "r"])
        XCTAssertEqual([line.sid, line.headerBytes, line.totalBytes], [3, 12, 40])
        XCTAssertNil(parse("MSG a 1"))
        XCTAssertNil(parse("MSG a x 5"))
        XCTAssertNil(parse("HMSG a 1 40 12"))  // headers longer than the whole
        XCTAssertNil(parse("HMSG a 1 r s 1 2"))
        XCTAssertNil(parse("PONG"))
    }

    func testStatusHeaders() {
        func status(_ text: String) -> Int? {
            Array(text.utf8).withUnsafeBytes { NATSMessageLine.status(ofHeaders: $0) }
        }
        XCTAssertEqual(status("NATS/1.0 404 No Messages\r\n\r\n"), 404)
        XCTAssertEqual(
            status("NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 0\r\n\r\n"), 408)
        XCTAssertEqual(status("NATS/1.0 100 Idle Heartbeat\r\n\r\n"), 100)
        XCTAssertNil(status("NATS/1.0\r\nNats-Msg-Id: 1\r\n\r\n"))
        XCTAssertNil(status(""))
    }

    func testPubAcks() {
        func parse(_ text: String) -> JetStreamPubAck { Array(text.utf8).withUnsafeBytes { JetStreamPubAck.parse($0) } }
        XCTAssertEqual(parse(#"{"stream":"bench","seq":42}"#), .stored(sequence: 42))
        XCTAssertEqual(parse(#"{"stream":"bench","domain":"d","seq": 7,"duplicate":true}"#), .stored(sequence: 7))
        let refused = #"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"seq":0}"#
        XCTAssertEqual(parse(refused), .failed(refused))
        XCTAssertEqual(parse(""), .failed(""))
        XCTAssertEqual(parse(#"{"stream":"bench"}"#), .failed(#"{"stream":"bench"}"#))
    }

    func testAckSubjects() {
        XCTAssertEqual(
            JetStreamAckSubject.parse("$JS.ACK.bench.c.2.17.18.1700000000000000000.99"),
            JetStreamAckSubject(
                stream: "bench", consumer: "c", delivered: 2, streamSequence: 17, consumerSequence: 18, pending: 99))
        XCTAssertEqual(
            JetStreamAckSubject.parse("$JS.ACK.hub.ACCHASH.bench.c.1.5.6.1700000000000000000.0.rand")?.streamSequence, 5
        )
        XCTAssertNil(JetStreamAckSubject.parse("$JS.ACK.bench.c.1.5"))
        XCTAssertNil(JetStreamAckSubject.parse("_INBOX.a.b.c.d.e.f.g.h"))
        func count(_ subject: String) -> Int {
            Array(subject.utf8).withUnsafeBytes { JetStreamPullConsumerRole.deliveryCount($0) }
        }
        XCTAssertEqual(count("$JS.ACK.bench.c.3.17.18.1700000000000000000.99"), 3)
        XCTAssertEqual(count("$JS.ACK.hub.ACCHASH.bench.c.2.5.6.1700000000000000000.0.rand"), 2)
        XCTAssertEqual(count("something.else"), 1)
    }

    func testDecimalWriter() {
        var buffer = ByteBuffer()
        for value in [0, 7, 10, 123_456_789] { JetStreamPublisherRole.writeDecimal(value, to: &buffer) }
        XCTAssertEqual(String(buffer: buffer), "0710123456789")
    }

    /// Handshake, a pull's deliveries acknowledged in one write, a 408 status renewing the request,
    /// a heartbeat ignored; every byte arriving alone.
    func testPullConsumerByteByByte() throws {
        let stats = LoopStats(loop: EmbeddedEventLoop())
        let role = JetStreamPullConsumerRole(
            stats: stats, count: 3, stream: "bench", consumer: "c", pulls: 1, batch: 2, expires: 1_000,
            inboxToken: "t")
        let channel = EmbeddedChannel(handler: NATSMessageClientHandler(role: role))
        func written() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }
        func feed(_ text: String) throws {
            for byte in Array(text.utf8) { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        }
        try feed("INFO {\"headers\":true}\r\n")
        XCTAssertTrue(try written().contains(#""headers":true"#))
        try feed("PONG\r\n")
        XCTAssertEqual(try written(), "SUB _INBOX.t.0 1\r\nPING\r\n")
        try feed("PONG\r\n")
        XCTAssertEqual(stats.subscribed.load(ordering: .relaxed), 1)
        role.start()
        let pull = "PUB $JS.API.CONSUMER.MSG.NEXT.bench.c _INBOX.t.0 26\r\n{\"batch\":2,\"expires\":1000}\r\n"
        XCTAssertEqual(try written(), pull)
        try feed(
            "MSG bench.js.0 1 $JS.ACK.bench.c.1.1.1.1.2 3\r\nabc\r\n"
                + "HMSG _INBOX.t.0 1 30 30\r\nNATS/1.0 100 Idle Heartbeat\r\n\r\n\r\n"
                + "MSG bench.js.0 1 $JS.ACK.bench.c.1.2.2.1.1 3\r\nabc\r\n")
        XCTAssertEqual(
            try written(),
            "PUB $JS.ACK.bench.c.1.1.1.1.2 4\r\n+ACK\r\nPUB $JS.ACK.bench.c.1.2.2.1.1 4\r\n+ACK\r\n" + pull)
        try feed("HMSG _INBOX.t.0 1 28 28\r\nNATS/1.0 408 Request Timeout\r\n\r\n\r\n")
        XCTAssertEqual(try written(), pull)
        XCTAssertEqual(stats.delivered.load(ordering: .relaxed), 2)
        try feed("MSG bench.js.1 1 $JS.ACK.bench.c.1.3.3.1.0 3\r\nabc\r\n")
        XCTAssertEqual(try written(), "PUB $JS.ACK.bench.c.1.3.3.1.0 4\r\n+ACK\r\nPING\r\n")
        XCTAssertEqual(stats.publishersDone.load(ordering: .relaxed), 0)
        try feed("PONG\r\n")
        XCTAssertEqual(stats.publishersDone.load(ordering: .relaxed), 1)
        XCTAssertEqual(stats.errors.load(ordering: .relaxed), 0)
    }

    /// Async publish: the window's messages go at start, each PubAck lets one more go.
    func testPublisherWindow() throws {
        let stats = LoopStats(loop: EmbeddedEventLoop())
        let role = JetStreamPublisherRole(
            stats: stats, count: 3, window: 2, subject: "bench.js.0", payloadSize: 4, inboxToken: "t")
        let channel = EmbeddedChannel(handler: NATSMessageClientHandler(role: role))
        func written() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }
        try channel.writeInbound(ByteBuffer(string: "INFO {}\r\nPONG\r\n"))
        XCTAssertTrue(try written().hasSuffix("SUB _INBOX.t.* 1\r\nPING\r\n"))
        try channel.writeInbound(ByteBuffer(string: "PONG\r\n"))
        role.start()
        XCTAssertEqual(
            try written(), "PUB bench.js.0 _INBOX.t.0 4\r\nabcd\r\nPUB bench.js.0 _INBOX.t.1 4\r\nabcd\r\n")
        let ack = #"{"stream":"bench","seq":1}"#
        try channel.writeInbound(ByteBuffer(string: "MSG _INBOX.t.0 1 \(ack.utf8.count)\r\n\(ack)\r\n"))
        XCTAssertEqual(try written(), "PUB bench.js.0 _INBOX.t.2 4\r\nabcd\r\n")
        let refused = #"{"error":{"code":503,"description":"no"}}"#
        let answers =
            "MSG _INBOX.t.1 1 \(ack.utf8.count)\r\n\(ack)\r\n"
            + "MSG _INBOX.t.2 1 \(refused.utf8.count)\r\n\(refused)\r\n"
        try channel.writeInbound(ByteBuffer(string: answers))
        XCTAssertEqual(stats.delivered.load(ordering: .relaxed), 2)
        XCTAssertEqual(stats.errors.load(ordering: .relaxed), 1)
        XCTAssertEqual(stats.publishersDone.load(ordering: .relaxed), 1)
        XCTAssertEqual(stats.latency.totalCount, 2)
    }
}
