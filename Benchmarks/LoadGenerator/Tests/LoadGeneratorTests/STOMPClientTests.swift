import NIOCore
import NIOEmbedded
import XCTest

@testable import switchboard_bench

/// The load generator's STOMP 1.2 client: its frame parser on hand-made server bytes, and the handler
/// in an `EmbeddedChannel`.
final class STOMPClientTests: XCTestCase {
    final class Recorder: BenchRole {
        var ready = 0
        var replies = 0
        var errors: [(String, Bool)] = []
        var deliveries: [UInt64] = []
        func linkReady(_ link: any BenchLink) { ready += 1 }
        func replyReceived(_ link: any BenchLink) { replies += 1 }
        func errorReceived(_ link: any BenchLink, message: String, answersRequest: Bool) {
            errors.append((message, answersRequest))
        }
        func deliveryReceived(sentAt: UInt64, receivedAt: UInt64) { deliveries.append(sentAt) }
        func linkClosed() {}
    }

    /// Every frame the parser finds in `text`: (command, headers, body), plus the offset it stopped at.
    private func parseAll(_ text: String) throws -> ([(STOMPClientFrame.Command, String, String)], Int) {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { raw in
            var frames: [(STOMPClientFrame.Command, String, String)] = []
            var offset = 0
            while true {
                let (start, parsed) = try STOMPClientFrame.parse(raw, from: offset)
                offset = start
                guard let frame = parsed else { break }
                frames.append(
                    (
                        frame.command, String(decoding: bytes[frame.headers], as: UTF8.self),
                        String(decoding: bytes[frame.body], as: UTF8.self)
                    ))
                offset = frame.end
            }
            return (frames, offset)
        }
    }

    private func messageFrame(ack: String, timestamp: UInt64, contentLength: Bool = true) -> [UInt8] {
        var payload = BenchPayload.template(size: 16, compact: true)
        payload.withUnsafeMutableBytes { BenchPayload.patch($0, value: timestamp) }
        var head = "MESSAGE\nsubscription:0\ndestination:/queue/q\nmessage-id:\(ack)\nack:\(ack)\n"
        if contentLength { head += "content-length:\(payload.count)\n" }
        return Array((head + "\n").utf8) + payload + [0, UInt8(ascii: "\n")]
    }

    private func outboundText(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(decoding: buffer.readableBytesView, as: UTF8.self)
        }
        return text
    }

    /// CONNECT → CONNECTED; returns the handler, its channel and its role.
    private func openLink(_ target: BenchTarget) throws -> (STOMPClientHandler, EmbeddedChannel, Recorder) {
        let role = Recorder()
        let handler = STOMPClientHandler(target: target, role: role)
        let channel = EmbeddedChannel(handler: handler)
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 61613), promise: nil)
        XCTAssertEqual(
            try outboundText(channel),
            "CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:0,0\n\n\0")
        XCTAssertEqual(role.ready, 0)
        try channel.writeInbound(
            ByteBuffer(string: "CONNECTED\r\nserver:RabbitMQ/3.10.8\r\nheart-beat:0,0\r\nversion:1.2\r\n\r\n\0\n"))
        XCTAssertEqual(role.ready, 1)
        return (handler, channel, role)
    }

    func testParserFramesHeartBeatsAndLineEndings() throws {
        let text =
            "\n\r\nRECEIPT\r\nreceipt-id:7\r\n\r\n\0\n\nMESSAGE\nack:a\\cb\ncontent-length:3\n\na\0b\0ERROR\nmessage:x\n\nboom\0\n"
        let (frames, end) = try parseAll(text)
        XCTAssertEqual(frames.map(\.0), [.receipt, .message, .error])
        XCTAssertEqual(frames[0].1, "receipt-id:7\r\n")
        XCTAssertEqual(frames[1].2, "a\0b", "content-length bodies may hold NUL")
        XCTAssertEqual(frames[2].2, "boom", "without content-length the body ends at the first NUL")
        XCTAssertEqual(end, text.utf8.count, "trailing EOLs are consumed")
        let headerBytes = Array("ack:a\\cb\ncontent-length:3\n".utf8)
        let ack = headerBytes.withUnsafeBytes {
            STOMPClientFrame.header(STOMPClientFrame.ackName, in: $0, 0..<headerBytes.count)
        }
        XCTAssertEqual(ack.map { String(decoding: headerBytes[$0], as: UTF8.self) }, "a\\cb", "kept escaped")
    }

    func testParserNeedsWholeFramesAndRejectsBrokenOnes() throws {
        let frame = "MESSAGE\ncontent-length:4\n\nabcd\0"
        for length in 0..<frame.utf8.count {
            let (frames, _) = try parseAll(String(frame.prefix(length)))
            XCTAssertTrue(frames.isEmpty, "prefix of \(length) bytes")
        }
        XCTAssertEqual(try parseAll(frame).0.count, 1)
        XCTAssertThrowsError(try parseAll("MESSAGE\ncontent-length:4\n\nabcde\0"), "content-length body without NUL")
        XCTAssertThrowsError(try parseAll("MESSAGE\ncontent-length:x\n\n\0"))
        XCTAssertThrowsError(
            try parseAll("MESSAGE\n" + String(repeating: "h", count: STOMPClientFrame.maximumHeaderBytes)),
            "header block past the limit")
    }

    func testClientFramesEscapeHeaderValues() {
        XCTAssertEqual(STOMPClientFrame.escape("a:b\\c\nd"), "a\\cb\\\\c\\nd")
        XCTAssertEqual(
            String(
                decoding: STOMPClientFrame.sendHead(destination: "/topic/a.b", contentLength: 16, receipt: "3"),
                as: UTF8.self),
            "SEND\ndestination:/topic/a.b\ncontent-length:16\nreceipt:3\n\n")
        XCTAssertEqual(STOMPDestinationKind.topic.destination(for: "a/b"), "/topic/a.b")
        XCTAssertEqual(STOMPDestinationKind.queue.destination(for: "work"), "/queue/work")
    }

    func testSubscribeThenClientIndividualAcksPerReadByteByByte() throws {
        var target = BenchTarget(host: "127.0.0.1", port: 61613, path: "", channel: "q")
        target.stompDestination = .queue
        target.stompAck = .clientIndividual
        target.prefetch = 100
        let (handler, channel, role) = try openLink(target)
        handler.sendSubscribe(channel: "q")
        XCTAssertEqual(
            try outboundText(channel),
            "SUBSCRIBE\nid:0\ndestination:/queue/q\nack:client-individual\nreceipt:subscribed\nprefetch-count:100\n\n\0"
        )
        try channel.writeInbound(ByteBuffer(string: "RECEIPT\nreceipt-id:subscribed\n\n\0"))
        XCTAssertEqual(role.replies, 1, "the RECEIPT confirms the subscription")

        // Two MESSAGE frames (one without content-length) in one read: two ACKs in one write.
        let bytes =
            messageFrame(ack: "T_0@@s@@1", timestamp: 42)
            + messageFrame(ack: "T_0@@s@@2", timestamp: 43, contentLength: false)
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        channel.pipeline.fireChannelReadComplete()
        XCTAssertEqual(role.deliveries, [42, 43])
        let acks = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertEqual(String(buffer: acks), "ACK\nid:T_0@@s@@1\n\n\0ACK\nid:T_0@@s@@2\n\n\0")
        XCTAssertNil(try channel.readOutbound(as: ByteBuffer.self))

        // The same bytes one at a time: frames span reads.
        for byte in bytes {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            channel.pipeline.fireChannelReadComplete()
        }
        XCTAssertEqual(role.deliveries, [42, 43, 42, 43])
        XCTAssertEqual(try outboundText(channel), "ACK\nid:T_0@@s@@1\n\n\0ACK\nid:T_0@@s@@2\n\n\0")
        XCTAssertTrue(role.errors.isEmpty)
    }

    func testClientModeSendsOneCumulativeAckPerRead() throws {
        var target = BenchTarget(host: "127.0.0.1", port: 61613, path: "", channel: "q")
        target.stompAck = .client
        let (handler, channel, role) = try openLink(target)
        handler.sendSubscribe(channel: "q")
        XCTAssertTrue(try outboundText(channel).contains("destination:/topic/q\nack:client\n"))
        try channel.writeInbound(
            ByteBuffer(bytes: messageFrame(ack: "1", timestamp: 1) + messageFrame(ack: "2", timestamp: 2)))
        channel.pipeline.fireChannelReadComplete()
        XCTAssertEqual(role.deliveries, [1, 2])
        XCTAssertEqual(try outboundText(channel), "ACK\nid:2\n\n\0")
    }

    func testPublishBatchEndsWithReceiptAndErrorsAnswerIt() throws {
        let (handler, channel, role) = try openLink(
            BenchTarget(host: "127.0.0.1", port: 61613, path: "", channel: "bench"))
        handler.writePublishes(count: 2, payloadSize: 16, now: 0x1234, acknowledged: true)
        handler.writePublishes(count: 1, payloadSize: 16, now: 0x1234, acknowledged: true)
        handler.flush()
        let head = "SEND\ndestination:/topic/bench\ncontent-length:16\n"
        let body = "\nt:00000000001234\0"
        XCTAssertEqual(
            try outboundText(channel),
            head + body + head + "receipt:1\n" + body + head + "receipt:2\n" + body)
        try channel.writeInbound(ByteBuffer(string: "RECEIPT\nreceipt-id:1\n\n\0"))
        XCTAssertEqual(role.replies, 1)
        try channel.writeInbound(ByteBuffer(string: "ERROR\nreceipt-id:2\nmessage:no route\n\ndetails\0"))
        XCTAssertEqual(role.errors.count, 1)
        XCTAssertEqual(role.errors.first?.1, true, "an ERROR for a publish receipt answers the batch")
        XCTAssertTrue(role.errors.first?.0.contains("no route") ?? false)
    }

    func testMessageWithoutAckHeaderUnderClientAckIsAnError() throws {
        var target = BenchTarget(host: "127.0.0.1", port: 61613, path: "", channel: "q")
        target.stompAck = .clientIndividual
        let (_, channel, role) = try openLink(target)
        try channel.writeInbound(ByteBuffer(string: "MESSAGE\ndestination:/topic/q\ncontent-length:0\n\n\0"))
        XCTAssertEqual(role.errors.count, 1)
        XCTAssertFalse(channel.isActive)
    }

    func testProtocolKindMakesTheHandler() {
        let target = BenchTarget(host: "127.0.0.1", port: 61613, path: "", channel: "bench")
        XCTAssertTrue(BenchProtocolKind.stomp.makeHandler(target: target, role: Recorder()) is STOMPClientHandler)
        var queue = target
        queue.stompDestination = .queue
        XCTAssertFalse(BenchProtocolKind.stomp.subscribersShareMessages(target))
        XCTAssertTrue(BenchProtocolKind.stomp.subscribersShareMessages(queue))
        XCTAssertTrue(BenchProtocolKind.amqp.subscribersShareMessages(target))
    }
}
