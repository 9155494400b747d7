import NIOCore
import NIOEmbedded
import XCTest

@testable import switchboard_bench

/// The SignalR bench client: the hub messages it writes, the framing and classification of what it
/// reads (golden bytes from HubProtocol.md), and the handler against server bytes fed one at a time.
final class SignalRClientTests: XCTestCase {
    private let target = BenchTarget(host: "127.0.0.1", port: 8080, path: "/hubs/switchboard", channel: "bench")
    private let separator = "\u{1E}"

    // MARK: - Framing

    func testLengthPrefixesAreTheSpecsVarInts() throws {
        // §VarInt: 0x35 is 53, 0x80 0x29 is 5248; 127 and 128 sit on the one- to two-byte boundary.
        for (length, bytes) in [(53, [0x35]), (5248, [0x80, 0x29]), (127, [0x7F]), (128, [0x80, 0x01]), (0, [0x00])]
            as [(Int, [UInt8])]
        {
            var written: [UInt8] = []
            SignalRClientMessagePack.writeLengthPrefix(length, into: &written)
            XCTAssertEqual(written, bytes)
            let read = try (bytes + [0xAA]).withUnsafeBytes { try SignalRClientMessagePack.readLengthPrefix($0, at: 0) }
            XCTAssertEqual(read?.0, length)
            XCTAssertEqual(read?.1, bytes.count)
        }
        // A prefix cut short needs more bytes; six groups, or more than 2^31 - 1, are malformed.
        XCTAssertNil(
            try ([0x80, 0x80] as [UInt8]).withUnsafeBytes { try SignalRClientMessagePack.readLengthPrefix($0, at: 0) })
        XCTAssertThrowsError(
            try ([0x80, 0x80, 0x80, 0x80, 0x80, 0x01] as [UInt8]).withUnsafeBytes {
                try SignalRClientMessagePack.readLengthPrefix($0, at: 0)
            })
        XCTAssertThrowsError(
            try ([0xFF, 0xFF, 0xFF, 0xFF, 0x0F] as [UInt8]).withUnsafeBytes {
                try SignalRClientMessagePack.readLengthPrefix($0, at: 0)
            })
    }

    func testJSONMessagesEndAtTheRecordSeparator() throws {
        let stream =
            Array(#"{"type":6}"#.utf8) + [0x1E] + Array(#"{"type":3,"invocationId":"1"}"#.utf8) + [0x1E]
            + Array(#"{"type":1"#.utf8)
        let messages = try stream.withUnsafeBytes { bytes in
            var found: [String] = []
            var offset = 0
            while let (body, next) = try SignalRClientMessages.nextMessage(in: bytes, from: offset, encoding: .json) {
                found.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[body]), as: UTF8.self))
                offset = next
            }
            return (found, offset)
        }
        XCTAssertEqual(messages.0, [#"{"type":6}"#, #"{"type":3,"invocationId":"1"}"#])
        XCTAssertEqual(messages.1, stream.count - 9)  // the unfinished `{"type":1` waits
    }

    func testMessagePackMessagesFollowTheirLength() throws {
        // §Binary encoding's example: "Hello\nWorld" behind 0x0B, then 0x01 0x02 behind 0x02 (cut short).
        let stream: [UInt8] = [0x0B] + Array("Hello\nWorld".utf8) + [0x02, 0x01]
        try stream.withUnsafeBytes { bytes in
            let first = try XCTUnwrap(SignalRClientMessages.nextMessage(in: bytes, from: 0, encoding: .messagePack))
            XCTAssertEqual(first.body, 1..<12)
            XCTAssertEqual(first.next, 12)
            XCTAssertNil(try SignalRClientMessages.nextMessage(in: bytes, from: 12, encoding: .messagePack))
        }
    }

    // MARK: - Messages

    func testHandshakeIsJSONTextInBothProtocols() {
        XCTAssertEqual(
            String(decoding: SignalRClientMessages.handshake(.json), as: UTF8.self),
            #"{"protocol":"json","version":1}"# + separator)
        XCTAssertEqual(
            String(decoding: SignalRClientMessages.handshake(.messagePack), as: UTF8.self),
            #"{"protocol":"messagepack","version":1}"# + separator)
        XCTAssertEqual(
            Array("{}".utf8).withUnsafeBytes(SignalRClientMessages.classifyHandshake), .handshake(error: nil))
        let refusal = #"{"error":"The protocol 'x' is not supported."}"#
        XCTAssertEqual(
            Array(refusal.utf8).withUnsafeBytes(SignalRClientMessages.classifyHandshake), .handshake(error: refusal))
    }

    func testClassifiesJSONMessages() {
        func classify(_ text: String) -> SignalRInboundMessage {
            Array(text.utf8).withUnsafeBytes { SignalRClientMessages.classify($0, encoding: .json) }
        }
        XCTAssertEqual(classify(#"{"type":1,"target":"Receive","arguments":[{}]}"#), .invocation)
        XCTAssertEqual(classify(#"{"type":3,"invocationId":"1"}"#), .completion(error: nil))
        XCTAssertEqual(
            classify(#"{"type":3,"invocationId":"2","result":{"offset":3,"epoch":"e"}}"#), .completion(error: nil))
        let failed = #"{"type":3,"invocationId":"3","error":"Unknown hub method 'x'"}"#
        XCTAssertEqual(classify(failed), .completion(error: failed))
        XCTAssertEqual(classify(#"{"type":6}"#), .ping)
        XCTAssertEqual(classify(#"{"type":7}"#), .close(error: nil))
        let closed = #"{"type":7,"error":"Server is shutting down.","allowReconnect":true}"#
        XCTAssertEqual(classify(closed), .close(error: closed))
        XCTAssertEqual(classify(#"{"type":2,"invocationId":"1","item":1}"#), .other)
        XCTAssertEqual(classify(#"{"type":10}"#), .other)
        XCTAssertEqual(classify(#"{"invocationId":"1","type":3}"#), .other)
    }

    func testClassifiesMessagePackMessages() {
        func classify(_ bytes: [UInt8]) -> SignalRInboundMessage {
            bytes.withUnsafeBytes { SignalRClientMessages.classify($0, encoding: .messagePack) }
        }
        let xyz: [UInt8] = [0xA3, 0x78, 0x79, 0x7A]
        // §MessagePack encoding's examples: Completion void, with a result, with an error; Ping; Close.
        XCTAssertEqual(classify([0x94, 0x03, 0x80] + xyz + [0x02]), .completion(error: nil))
        XCTAssertEqual(classify([0x95, 0x03, 0x80] + xyz + [0x03, 0x2A]), .completion(error: nil))
        XCTAssertEqual(
            classify([0x95, 0x03, 0x80] + xyz + [0x01, 0xA5] + Array("Error".utf8)), .completion(error: "Error"))
        // Headers are skipped whatever they hold.
        XCTAssertEqual(
            classify([0x94, 0x03, 0x81, 0xA1, 0x61, 0xA1, 0x62] + xyz + [0x02]), .completion(error: nil))
        XCTAssertEqual(classify([0x91, 0x06]), .ping)
        XCTAssertEqual(classify([0x92, 0x07, 0xC0]), .close(error: nil))
        XCTAssertEqual(classify([0x93, 0x07, 0xA3] + Array("bye".utf8) + [0xC3]), .close(error: "bye"))
        XCTAssertEqual(classify(delivery(timestamp: 1)), .invocation)
        XCTAssertEqual(classify([0x93, 0x02, 0x80]), .other)  // a stream item
        XCTAssertEqual(classify([0x94, 0x03, 0x80, 0xA3, 0x78]), .other)  // cut short
        XCTAssertEqual(classify([0xC1]), .other)
    }

    func testReaderSkipsEveryFormatAndRefusesImpossibleCounts() {
        let values: [[UInt8]] = [
            [0x05], [0xFF], [0xC0], [0xC3], [0xCA, 0, 0, 0, 0], [0xCB] + Array(repeating: 0, count: 8),
            [0xCD, 1, 2], [0xD2, 1, 2, 3, 4], [0xD9, 2, 0x61, 0x62], [0xC4, 1, 9], [0xC7, 1, 5, 9], [0xD5, 5, 1, 2],
            [0xDC, 0, 2, 0x01, 0x02], [0xDE, 0, 1, 0xA1, 0x61, 0x90], [0x92, 0x81, 0xA0, 0xC0, 0x93, 1, 2, 3],
        ]
        for value in values {
            value.withUnsafeBytes { bytes in
                var reader = SignalRClientMessagePack.Reader(bytes)
                XCTAssertTrue(reader.skipValue(), "\(value)")
                XCTAssertEqual(reader.index, value.count, "\(value)")
            }
        }
        // An array 32 that claims four billion elements in six bytes; nesting past the limit.
        let impossible: [UInt8] = [0xDD, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        let deep = [UInt8](repeating: 0x91, count: SignalRClientMessagePack.maximumDepth + 1) + [0x01]
        for value in [impossible, deep, [0xC1], [0xDA, 0x00]] {
            value.withUnsafeBytes { bytes in
                var reader = SignalRClientMessagePack.Reader(bytes)
                XCTAssertFalse(reader.skipValue(), "\(value)")
            }
        }
        ([0xD0, 0xFE] as [UInt8]).withUnsafeBytes { bytes in
            var reader = SignalRClientMessagePack.Reader(bytes)
            XCTAssertEqual(reader.readInteger(), -2)
        }
    }

    func testWritesTheHubsInvocations() throws {
        XCTAssertEqual(
            String(
                decoding: SignalRClientMessages.subscribe(channel: "bench", invocationID: 1, encoding: .json),
                as: UTF8.self),
            #"{"type":1,"invocationId":"1","target":"Subscribe","arguments":["bench"]}"# + separator)
        // [1, {}, "1", "Subscribe", ["bench"], []] behind its length.
        let subscribe: [UInt8] =
            [0x96, 0x01, 0x80, 0xA1, 0x31, 0xA9] + Array("Subscribe".utf8) + [0x91, 0xA5] + Array("bench".utf8) + [0x90]
        XCTAssertEqual(
            SignalRClientMessages.subscribe(channel: "bench", invocationID: 1, encoding: .messagePack),
            [UInt8(subscribe.count)] + subscribe)
        // §MessagePack encoding: `[6]` is 0x91 0x06, two bytes behind their length.
        XCTAssertEqual(SignalRClientMessages.ping(.messagePack), [0x02, 0x91, 0x06])
        XCTAssertEqual(String(decoding: SignalRClientMessages.ping(.json), as: UTF8.self), #"{"type":6}"# + separator)
        // Every MessagePack message the client writes is one value exactly as long as its prefix says.
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 300)
        let messages = [
            SignalRClientMessages.subscribe(channel: "bench", invocationID: 12, encoding: .messagePack),
            SignalRClientMessages.ping(.messagePack),
            SignalRClientMessages.publishPrefix(
                channel: "bench", invocationID: nil, payloadLength: payload.count, encoding: .messagePack) + payload
                + SignalRClientMessages.publishSuffix(.messagePack),
            SignalRClientMessages.publishPrefix(
                channel: "bench", invocationID: 130, payloadLength: payload.count, encoding: .messagePack) + payload
                + SignalRClientMessages.publishSuffix(.messagePack),
        ]
        for message in messages {
            try message.withUnsafeBytes { bytes in
                let found = try XCTUnwrap(SignalRClientMessages.nextMessage(in: bytes, from: 0, encoding: .messagePack))
                XCTAssertEqual(found.next, bytes.count)
                var reader = SignalRClientMessagePack.Reader(UnsafeRawBufferPointer(rebasing: bytes[found.body]))
                XCTAssertTrue(reader.skipValue())
                XCTAssertEqual(reader.index, found.body.count)
            }
        }
        // A str header in each size class the payload may need.
        XCTAssertEqual(SignalRClientMessagePack.stringHeader(31), [0xBF])
        XCTAssertEqual(SignalRClientMessagePack.stringHeader(64), [0xD9, 64])
        XCTAssertEqual(SignalRClientMessagePack.stringHeader(300), [0xDA, 0x01, 0x2C])
        XCTAssertEqual(SignalRClientMessagePack.stringHeader(70_000), [0xDB, 0x00, 0x01, 0x11, 0x70])
    }

    // MARK: - Handler

    func testJSONClientHandshakesSubscribesAndCountsDeliveries() throws {
        let (channel, role, handler) = try connectedClient(encoding: .json)
        XCTAssertEqual(role.events, [])
        try feed(channel, textFrame("{}" + separator))
        XCTAssertEqual(role.events, ["ready"])
        handler.sendSubscribe(channel: "bench")
        XCTAssertEqual(
            try clientFrames(channel).map(\.text),
            [#"{"type":1,"invocationId":"1","target":"Subscribe","arguments":["bench"]}"# + separator])
        // Two messages in one frame, a delivery split across two frames, a ping, a presence invocation, an error.
        let push = Array(jsonDelivery(timestamp: 11).utf8)
        try feed(
            channel,
            textFrame(#"{"type":3,"invocationId":"1"}"# + separator + #"{"type":6}"# + separator)
                + textFrame(#"{"type":1,"target":"Join","arguments":[{"type":"join"}]}"# + separator)
                + frame(0x1, Array(push[0..<30])) + frame(0x1, Array(push[30...]) + [0x1E])
                + textFrame(#"{"type":3,"invocationId":"2","error":"x"}"# + separator))
        XCTAssertEqual(
            role.events,
            ["ready", "reply", "delivery 11", #"error signalr: {"type":3,"invocationId":"2","error":"x"}"#])
    }

    func testMessagePackClientHandshakesInTextThenReadsBinary() throws {
        let (channel, role, handler) = try connectedClient(encoding: .messagePack)
        try feed(channel, textFrame("{}" + separator))
        XCTAssertEqual(role.events, ["ready"])
        handler.sendSubscribe(channel: "bench")
        let written = try clientFrames(channel)
        XCTAssertEqual(written.map(\.opcode), [0x2])
        XCTAssertEqual(
            written.first?.payload,
            SignalRClientMessages.subscribe(channel: "bench", invocationID: 1, encoding: .messagePack))
        let completion: [UInt8] = [0x94, 0x03, 0x80, 0xA1, 0x31, 0x02]
        let twoDeliveries = framed(delivery(timestamp: 21)) + framed(delivery(timestamp: 22))
        try feed(
            channel,
            frame(0x2, framed(completion) + framed([0x91, 0x06])) + frame(0x2, Array(twoDeliveries[0..<50]))
                + frame(0x2, Array(twoDeliveries[50...])))
        XCTAssertEqual(role.events, ["ready", "reply", "delivery 21", "delivery 22"])
        try feed(channel, frame(0x2, framed([0x92, 0x07, 0xA3] + Array("bye".utf8))))
        XCTAssertEqual(role.events.last, "error signalr close: bye")
        XCTAssertEqual(try clientFrames(channel).map(\.opcode), [0x8])
    }

    func testHandshakeRefusalIsReportedAndCloses() throws {
        let (channel, role, _) = try connectedClient(encoding: .messagePack)
        try feed(channel, textFrame(#"{"error":"no"}"# + separator))
        XCTAssertEqual(role.events, [#"error signalr handshake: {"error":"no"}"#])
        XCTAssertEqual(try clientFrames(channel).map(\.opcode), [0x8])
    }

    func testPublishesFireAndForgetWithTheLastInvocationHavingAnID() throws {
        let payload = "ts:0000000000000000005:xxxxxxx"
        let (jsonChannel, _, jsonHandler) = try connectedClient(encoding: .json)
        try feed(jsonChannel, textFrame("{}" + separator))
        jsonHandler.writePublishes(count: 3, payloadSize: 30, now: 5, acknowledged: true)
        jsonHandler.flush()
        let plain = #"{"type":1,"target":"Publish","arguments":["bench","\#(payload)"]}"# + separator
        XCTAssertEqual(
            try clientFrames(jsonChannel).map(\.text),
            [
                plain, plain,
                #"{"type":1,"invocationId":"1","target":"Publish","arguments":["bench","\#(payload)"]}"# + separator,
            ])

        let (packChannel, _, packHandler) = try connectedClient(encoding: .messagePack)
        try feed(packChannel, textFrame("{}" + separator))
        packHandler.writePublishes(count: 2, payloadSize: 30, now: 5, acknowledged: true)
        packHandler.flush()
        let arguments = [0x92, 0xA5] + Array("bench".utf8) + [0xBE] + Array(payload.utf8) + [0x90]
        let head: [UInt8] = [0x96, 0x01, 0x80]
        let target = [0xA7] + Array("Publish".utf8)
        XCTAssertEqual(
            try clientFrames(packChannel).map(\.payload),
            [
                framed(head + [0xC0] + target + arguments),
                framed(head + [0xA1, 0x31] + target + arguments),
            ])
    }

    func testPingsWhenItSentNothingForAKeepAliveInterval() throws {
        let (channel, _, handler) = try connectedClient(encoding: .json)
        try feed(channel, textFrame("{}" + separator))
        handler.sendSubscribe(channel: "bench")
        _ = try clientFrames(channel)
        // The subscribe was written in the first interval, so its tick sends nothing; the next one pings.
        channel.embeddedEventLoop.advanceTime(by: SignalRClientHandler.keepAliveInterval)
        XCTAssertEqual(try clientFrames(channel).count, 0)
        channel.embeddedEventLoop.advanceTime(by: SignalRClientHandler.keepAliveInterval)
        XCTAssertEqual(try clientFrames(channel).map(\.text), [#"{"type":6}"# + separator])
    }

    func testSignalRProtocolsPickTheirHandlerAndPath() {
        XCTAssertTrue(
            BenchProtocolKind.signalr.makeHandler(target: target, role: RecordingRole()) is SignalRClientHandler)
        XCTAssertTrue(
            BenchProtocolKind.signalrMsgpack.makeHandler(target: target, role: RecordingRole()) is SignalRClientHandler)
        XCTAssertEqual(BenchProtocolKind(rawValue: "signalr-msgpack"), .signalrMsgpack)
        XCTAssertEqual(BenchProtocolKind.signalr.defaultPath, "/hubs/switchboard")
        XCTAssertEqual(BenchProtocolKind.signalrMsgpack.defaultPort, 8080)
    }

    // MARK: - Helpers

    /// A delivery as Switchboard writes it in JSON: an invocation of `Receive` with BusJSON's object.
    private func jsonDelivery(timestamp: UInt64) -> String {
        #"{"type":1,"target":"Receive","arguments":[{"type":"message","channel":"bench","data":""#
            + payloadText(timestamp) + #""}]}"#
    }

    /// The same delivery in MessagePack: `[1, {}, nil, "Receive", [{type, channel, data}], []]`.
    private func delivery(timestamp: UInt64) -> [UInt8] {
        let string = SignalRClientMessagePack.string
        return [0x96, 0x01, 0x80, 0xC0] + string("Receive") + [0x91, 0x83] + string("type") + string("message")
            + string("channel") + string("bench") + string("data") + string(payloadText(timestamp)) + [0x90]
    }

    private func payloadText(_ timestamp: UInt64) -> String {
        var payload = BenchPayload.template(size: 24)
        payload.withUnsafeMutableBytes { BenchPayload.patchDigits($0, at: 3, value: timestamp) }
        return String(decoding: payload, as: UTF8.self)
    }

    /// A MessagePack body behind its length prefix.
    private func framed(_ body: [UInt8]) -> [UInt8] { SignalRClientMessagePack.message(body) }

    /// A client past the upgrade (fed byte by byte) whose handshake request has been read and checked.
    private func connectedClient(
        encoding: SignalRHubEncoding
    ) throws -> (EmbeddedChannel, RecordingRole, SignalRClientHandler) {
        let role = RecordingRole()
        let handler = SignalRClientHandler(target: target, role: role, encoding: encoding)
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        let request = String(buffer: try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self)))
        XCTAssertTrue(request.hasPrefix("GET /hubs/switchboard HTTP/1.1\r\n"))
        XCTAssertFalse(request.contains("Sec-WebSocket-Protocol"))
        try feed(channel, Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".utf8))
        let handshake = try clientFrames(channel)
        XCTAssertEqual(handshake.map(\.opcode), [0x1])
        XCTAssertEqual(handshake.first?.payload, SignalRClientMessages.handshake(encoding))
        return (channel, role, handler)
    }

    private func feed(_ channel: EmbeddedChannel, _ bytes: [UInt8]) throws {
        for byte in bytes { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
    }

    private func textFrame(_ text: String) -> [UInt8] { frame(0x1, Array(text.utf8)) }

    /// An unmasked server frame.
    private func frame(_ opcode: UInt8, _ bytes: [UInt8]) -> [UInt8] {
        precondition(bytes.count < 65_536)
        return bytes.count < 126
            ? [0x80 | opcode, UInt8(bytes.count)] + bytes
            : [0x80 | opcode, 126, UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
    }

    /// The masked client frames written since the last call, unmasked.
    private func clientFrames(_ channel: EmbeddedChannel) throws -> [(opcode: UInt8, payload: [UInt8], text: String)] {
        var all = ByteBuffer()
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&buffer) }
        var frames: [(opcode: UInt8, payload: [UInt8], text: String)] = []
        while all.readableBytes > 0 {
            // The parser rejects masked (client) frames; read the header with the mask bit cleared.
            var unmasked = all
            unmasked.setInteger(
                all.getInteger(at: all.readerIndex + 1, as: UInt8.self)! & 0x7F, at: all.readerIndex + 1)
            guard let header = try WebSocketFrameParser.parseHeader(unmasked) else { break }
            all.moveReaderIndex(forwardBy: header.headerLength)
            let key: UInt32 = all.readInteger()!
            var payload = all.readSlice(length: header.payloadLength)!
            payload.withUnsafeMutableReadableBytes {
                WebSocketFrameParser.mask($0, offset: 0, count: header.payloadLength, maskKey: key)
            }
            let bytes = Array(payload.readableBytesView)
            frames.append((header.opcode, bytes, String(decoding: bytes, as: UTF8.self)))
        }
        return frames
    }
}
