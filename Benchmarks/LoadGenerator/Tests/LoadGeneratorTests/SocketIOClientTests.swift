import NIOCore
import NIOEmbedded
import XCTest

@testable import switchboard_bench

/// The Socket.IO bench clients (WebSocket and long-polling transports) against golden server bytes, fed
/// one byte at a time.
final class SocketIOClientTests: XCTestCase {
    private let target = BenchTarget(host: "127.0.0.1", port: 8080, path: "/socket.io/", channel: "bench")

    /// A delivery as Switchboard sends it with recovery on (the offset as the last argument).
    private func delivery(timestamp: UInt64) -> String {
        var payload = BenchPayload.template(size: 24)
        payload.withUnsafeMutableBytes { BenchPayload.patchDigits($0, at: 3, value: timestamp) }
        return #"42["message",{"type":"message","channel":"bench","data":""#
            + String(decoding: payload, as: UTF8.self) + #"","offset":3,"epoch":"e"},"bench 3"]"#
    }

    func testClassifiesServerPackets() {
        func classify(_ text: String) -> SocketIOInboundPacket {
            Array(text.utf8).withUnsafeBytes { SocketIOClientPackets.classify($0) }
        }
        XCTAssertEqual(classify(#"0{"sid":"a","upgrades":[]}"#), .open)
        XCTAssertEqual(classify("2"), .ping)
        XCTAssertEqual(classify("1"), .close)
        XCTAssertEqual(classify("6"), .other)
        XCTAssertEqual(classify(#"40{"sid":"b"}"#), .connected)
        XCTAssertEqual(classify(#"44{"message":"no"}"#), .connectError)
        XCTAssertEqual(classify("41"), .disconnected)
        XCTAssertEqual(classify(#"42["message",{}]"#), .event)
        XCTAssertEqual(classify(#"4312[{"channel":"bench","offset":1}]"#), .ack(isError: false))
        XCTAssertEqual(classify(#"437[{"error":{"code":"bad_request","message":"x"}}]"#), .ack(isError: true))
        XCTAssertEqual(classify(#"42/admin,["message",{}]"#), .other)
        XCTAssertEqual(
            Array(#"0{"sid":"Dttjlb6-lcW6","upgrades":[]}"#.utf8).withUnsafeBytes {
                SocketIOClientPackets.sessionID(inOpen: $0)
            }, "Dttjlb6-lcW6")
    }

    func testWebSocketTransportConnectsSubscribesAndCountsDeliveries() throws {
        let role = RecordingRole()
        let handler = SocketIOClientHandler(target: target, role: role)
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        let request = String(buffer: try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self)))
        XCTAssertTrue(request.hasPrefix("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"))
        XCTAssertFalse(request.contains("Sec-WebSocket-Protocol"))

        func feed(_ bytes: [UInt8]) throws { for byte in bytes { try channel.writeInbound(ByteBuffer(bytes: [byte])) } }
        try feed(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".utf8))
        try feed(serverFrame(#"0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#))
        XCTAssertEqual(try clientTexts(channel), ["40"])
        try feed(serverFrame(#"40{"sid":"k1"}"#))
        XCTAssertEqual(role.events, ["ready"])
        handler.sendSubscribe(channel: "bench")
        XCTAssertEqual(try clientTexts(channel), [#"421["subscribe",{"channel":"bench"}]"#])
        try feed(
            serverFrame(#"431[{"channel":"bench","offset":0,"epoch":"e","messages":[]}]"#)
                + serverFrame(#"42["join",{"type":"join","channel":"bench","client":{}}]"#)
                + serverFrame(delivery(timestamp: 11)) + serverFrame("2")
                + serverFrame(#"432[{"error":{"code":"limit","message":"x"}}]"#))
        XCTAssertEqual(role.events.prefix(3), ["ready", "reply", "delivery 11"])
        XCTAssertEqual(role.events.count, 4)
        XCTAssertTrue(role.events[3].hasPrefix(#"error 432[{"error""#))
        XCTAssertEqual(try clientTexts(channel), ["3"])
    }

    func testWebSocketTransportPublishesFireAndForgetWithTheLastAcked() throws {
        let role = RecordingRole()
        let handler = SocketIOClientHandler(target: target, role: role)
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        _ = try channel.readOutbound(as: ByteBuffer.self)
        try channel.writeInbound(ByteBuffer(bytes: Array("HTTP/1.1 101 Switching Protocols\r\n\r\n".utf8)))
        try channel.writeInbound(ByteBuffer(bytes: serverFrame(#"0{"sid":"s1"}"#) + serverFrame(#"40{"sid":"k"}"#)))
        _ = try clientTexts(channel)
        handler.writePublishes(count: 3, payloadSize: 30, now: 5, acknowledged: true)
        handler.flush()
        let texts = try clientTexts(channel)
        let payload = "ts:0000000000000000005:xxxxxxx"
        XCTAssertEqual(
            texts,
            [
                #"42["publish",{"channel":"bench","data":"\#(payload)"}]"#,
                #"42["publish",{"channel":"bench","data":"\#(payload)"}]"#,
                #"421["publish",{"channel":"bench","data":"\#(payload)"}]"#,
            ])
        try channel.writeInbound(ByteBuffer(bytes: serverFrame(#"431[{"channel":"bench","offset":3,"epoch":"e"}]"#)))
        XCTAssertEqual(role.events, ["ready", "reply"])
    }

    func testPollingTransportHandshakesSubscribesAndRepollsBeforeReporting() throws {
        let role = PollingRecordingRole()
        let channel = EmbeddedChannel(handler: SocketIOPollingClientHandler(target: target, role: role))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        role.channel = channel

        func respond(_ body: String) throws {
            let bytes = Array(body.utf8)
            let response =
                Array(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\ncontent-length: \(bytes.count)\r\n\r\n"
                        .utf8)
                + bytes
            for byte in response { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        }
        func nextRequest() throws -> String {
            String(buffer: try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self)))
        }

        XCTAssertTrue(try nextRequest().hasPrefix("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"))
        try respond(#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}"#)
        var post = try nextRequest()
        XCTAssertTrue(post.hasPrefix("POST /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\n"))
        XCTAssertTrue(post.hasSuffix("Content-Length: 2\r\n\r\n40"))
        try respond("ok")
        XCTAssertTrue(try nextRequest().hasPrefix("GET /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\n"))
        try respond(#"40{"sid":"k"}"#)
        post = try nextRequest()
        XCTAssertTrue(post.hasSuffix(#"421["subscribe",{"channel":"bench"}]"#))
        try respond("ok")
        XCTAssertTrue(try nextRequest().hasPrefix("GET "))
        try respond(#"431[{"channel":"bench","messages":[]}]"# + "\u{1E}" + delivery(timestamp: 21))
        // The next poll was written before the delivery was reported.
        XCTAssertEqual(role.events, ["ready", "reply", "delivery 21 after GET"])
        _ = try nextRequest()
        try respond("2" + "\u{1E}" + delivery(timestamp: 22))
        XCTAssertEqual(role.events.last, "delivery 22 after POST")
        XCTAssertTrue(try nextRequest().hasSuffix("Content-Length: 1\r\n\r\n3"))
    }

    func testPollingErrorStatusIsReported() throws {
        let role = RecordingRole()
        let channel = EmbeddedChannel(handler: SocketIOPollingClientHandler(target: target, role: role))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        let body = #"{"code":1,"message":"Session ID unknown"}"#
        try channel.writeInbound(
            ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"))
        XCTAssertEqual(role.events.first, "error polling request refused: HTTP/1.1 400 Bad Request \(body)")
    }

    func testSocketIOProtocolsPickTheirHandlersAndPath() {
        XCTAssertTrue(
            BenchProtocolKind.socketio.makeHandler(target: target, role: RecordingRole()) is SocketIOClientHandler)
        XCTAssertTrue(
            BenchProtocolKind.socketioPolling.makeHandler(target: target, role: RecordingRole())
                is SocketIOPollingClientHandler)
        XCTAssertEqual(BenchProtocolKind.socketioPolling.defaultPath, "/socket.io/")
        XCTAssertEqual(BenchProtocolKind.ws.defaultPath, "/ws")
    }

    // MARK: - Helpers

    /// An unmasked server text frame.
    private func serverFrame(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        precondition(bytes.count < 65_536)
        return bytes.count < 126
            ? [0x81, UInt8(bytes.count)] + bytes
            : [0x81, 126, UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
    }

    /// The texts of the masked client frames written since the last call.
    private func clientTexts(_ channel: EmbeddedChannel) throws -> [String] {
        var all = ByteBuffer()
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&buffer) }
        var texts: [String] = []
        while let header = try WebSocketFrameParser.parseHeader(clearMaskBit(all)) {
            // Client frames carry a 4-byte mask key after the header.
            all.moveReaderIndex(forwardBy: header.headerLength)
            let key: UInt32 = all.readInteger()!
            var payload = all.readSlice(length: header.payloadLength)!
            payload.withUnsafeMutableReadableBytes {
                WebSocketFrameParser.mask($0, offset: 0, count: header.payloadLength, maskKey: key)
            }
            texts.append(String(buffer: payload))
        }
        return texts
    }

    /// The parser rejects masked (client) frames; the test reads them with the mask bit cleared.
    private func clearMaskBit(_ buffer: ByteBuffer) -> ByteBuffer {
        var copy = buffer
        if let second = copy.getInteger(at: copy.readerIndex + 1, as: UInt8.self) {
            copy.setInteger(second & 0x7F, at: copy.readerIndex + 1)
        }
        return copy
    }
}

/// Records events and, for deliveries, which request the handler had written last.
final class PollingRecordingRole: BenchRole, @unchecked Sendable {
    var events: [String] = []
    var channel: EmbeddedChannel?
    func linkReady(_ link: any BenchLink) {
        events.append("ready")
        link.sendSubscribe(channel: "bench")
    }
    func replyReceived(_ link: any BenchLink) { events.append("reply") }
    func errorReceived(_ link: any BenchLink, message: String, answersRequest: Bool) {
        events.append("error \(message)")
    }
    func deliveryReceived(sentAt: UInt64, receivedAt: UInt64) {
        // Peek at the outbound queue without consuming it: the last request written.
        let pending = (try? channel?.readOutbound(as: ByteBuffer.self)) ?? nil
        if let pending { try? channel?.writeOutbound(pending) }
        let method = pending.map { String(buffer: $0).prefix(while: { $0 != " " }) } ?? "nothing"
        events.append("delivery \(sentAt) after \(method)")
    }
    func linkClosed() { events.append("closed") }
}
