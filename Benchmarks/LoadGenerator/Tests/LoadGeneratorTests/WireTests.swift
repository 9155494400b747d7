import NIOCore
import NIOEmbedded
import XCTest

@testable import switchboard_bench

/// Golden bytes and round trips for the load generator's own codecs.
final class WireTests: XCTestCase {
    func testPayloadTemplateCarriesTimestamp() {
        var template = BenchPayload.template(size: 64)
        XCTAssertEqual(template.count, 64)
        template.withUnsafeMutableBytes { BenchPayload.patchDigits($0, at: 3, value: 1_234_567_890_123) }
        let json = Array(#"{"type":"message","channel":"bench","data":""#.utf8) + template + Array(#""}"#.utf8)
        XCTAssertEqual(json.withUnsafeBytes { BenchPayload.timestamp(in: $0) }, 1_234_567_890_123)
        XCTAssertNil(Array(#"{"id":1,"type":"subscribed"}"#.utf8).withUnsafeBytes { BenchPayload.timestamp(in: $0) })
    }

    func testServerFrameHeaders() throws {
        // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
        var buffer = ByteBuffer(bytes: [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        XCTAssertEqual(
            try WebSocketFrameParser.parseHeader(buffer),
            WebSocketFrameHeader(fin: true, opcode: 1, headerLength: 2, payloadLength: 5))
        buffer = ByteBuffer(bytes: [0x82, 0x7E, 0x01, 0x00])  // 256-byte binary frame, 16-bit length
        XCTAssertEqual(try WebSocketFrameParser.parseHeader(buffer)?.payloadLength, 256)
        XCTAssertNil(try WebSocketFrameParser.parseHeader(ByteBuffer(bytes: [0x81])))
        XCTAssertNil(try WebSocketFrameParser.parseHeader(ByteBuffer(bytes: [0x81, 0x7E, 0x01])))
        // RFC 6455 §5.1: masked server frames are rejected.
        XCTAssertThrowsError(try WebSocketFrameParser.parseHeader(ByteBuffer(bytes: [0x81, 0x85, 0, 0, 0, 0])))
    }

    func testClientFrameMasking() {
        // RFC 6455 §5.7: masked "Hello" with key 37 fa 21 3d.
        var buffer = ByteBuffer()
        WebSocketFrameParser.writeClientHeader(opcode: 0x1, length: 5, maskKey: 0x37FA_213D, into: &buffer)
        buffer.writeBytes(Array("Hello".utf8))
        buffer.withUnsafeMutableReadableBytes {
            WebSocketFrameParser.mask($0, offset: 6, count: 5, maskKey: 0x37FA_213D)
        }
        XCTAssertEqual(
            Array(buffer.readableBytesView),
            [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        // 8-byte-at-a-time path: masking twice restores the input.
        var long = ByteBuffer(bytes: Array(0..<41))
        long.withUnsafeMutableReadableBytes {
            WebSocketFrameParser.mask($0, offset: 0, count: 41, maskKey: 0xDEAD_BEEF)
        }
        XCTAssertNotEqual(Array(long.readableBytesView), Array(0..<41))
        long.withUnsafeMutableReadableBytes {
            WebSocketFrameParser.mask($0, offset: 0, count: 41, maskKey: 0xDEAD_BEEF)
        }
        XCTAssertEqual(Array(long.readableBytesView), Array(0..<41))
    }

    func testBase64() {
        XCTAssertEqual(Base64.encode(Array("the sample nonce".utf8)), "dGhlIHNhbXBsZSBub25jZQ==")
        XCTAssertEqual(Base64.encode(Array("ab".utf8)), "YWI=")
    }

    func testNATSHandlerHandshakeAndDeliveriesByteByByte() throws {
        let role = RecordingRole()
        let target = BenchTarget(host: "127.0.0.1", port: 4222, path: "/", channel: "a/b")
        let channel = EmbeddedChannel(handler: NATSClientHandler(target: target, role: role))
        var payload = BenchPayload.template(size: 30)
        payload.withUnsafeMutableBytes { BenchPayload.patchDigits($0, at: 3, value: 42) }
        let input = Array("INFO {}\r\nPONG\r\nMSG a.b 1 30\r\n".utf8) + payload + Array("\r\nPING\r\n".utf8)
        for byte in input { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        XCTAssertEqual(role.events, ["ready", "delivery 42"])
        var written = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written += String(buffer: buffer) }
        XCTAssertTrue(written.hasPrefix("CONNECT "))
        XCTAssertTrue(written.hasSuffix("PING\r\nPONG\r\n"))
    }

    func testWebSocketHandlerUpgradeAndDelivery() throws {
        let role = RecordingRole()
        let target = BenchTarget(host: "127.0.0.1", port: 8080, path: "/ws", channel: "bench")
        let channel = EmbeddedChannel(handler: WebSocketClientHandler(target: target, role: role))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        let request = String(buffer: try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self)))
        XCTAssertTrue(request.hasPrefix("GET /ws HTTP/1.1\r\n"))
        XCTAssertTrue(request.contains("Sec-WebSocket-Protocol: switchboard.v1\r\n"))
        var payload = BenchPayload.template(size: 24)
        payload.withUnsafeMutableBytes { BenchPayload.patchDigits($0, at: 3, value: 7) }
        let push = Array(#"{"type":"message","channel":"bench","data":""#.utf8) + payload + Array(#""}"#.utf8)
        let reply = Array(#"{"id":1,"type":"published"}"#.utf8)
        let unsolicited = Array(#"{"type":"published"}"#.utf8)  // no id: must not count as a reply
        let input =
            Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".utf8)
            + [0x81, UInt8(push.count)] + push + [0x81, UInt8(unsolicited.count)] + unsolicited
            + [0x81, UInt8(reply.count)] + reply
        for byte in input { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        XCTAssertEqual(role.events, ["ready", "delivery 7", "reply"])
    }
}

/// Records what a handler reports, for assertions.
final class RecordingRole: BenchRole, @unchecked Sendable {
    var events: [String] = []
    func linkReady(_ link: any BenchLink) { events.append("ready") }
    func replyReceived(_ link: any BenchLink) { events.append("reply") }
    func errorReceived(_ link: any BenchLink, message: String, answersRequest: Bool) {
        events.append("error \(message)")
    }
    func deliveryReceived(sentAt: UInt64, receivedAt: UInt64) { events.append("delivery \(sentAt)") }
    func linkClosed() { events.append("closed") }
}
