import BusCore
import NIOCore
import SocketIOWire
import Testing

/// Socket.IO v5 packets: the examples of socket.io-protocol's README (§packet encoding), round trips,
/// the payload checks of the reference parser, binary attachments, and byte-by-byte robustness.
@Suite struct SocketIOPacketTests {
    let limits = SocketIOLimits()

    private func decode(_ text: String) throws -> SocketIOPacket {
        try SocketIOPacket.decode(ByteBuffer(string: text), limits: limits)
    }

    @Test func decodesTheSpecExamples() throws {
        let cases: [(String, SocketIOPacket)] = [
            ("0", SocketIOPacket(.connect)),
            (
                "0/admin,{\"token\":\"123\"}",
                SocketIOPacket(.connect, namespace: "/admin", data: ByteBuffer(string: "{\"token\":\"123\"}"))
            ),
            ("1/admin,", SocketIOPacket(.disconnect, namespace: "/admin")),
            ("2[\"hello\",1]", SocketIOPacket(.event, data: ByteBuffer(string: "[\"hello\",1]"))),
            (
                "2/admin,456[\"project:delete\",123]",
                SocketIOPacket(
                    .event, namespace: "/admin", ackID: 456, data: ByteBuffer(string: "[\"project:delete\",123]"))
            ),
            ("3/admin,456[]", SocketIOPacket(.ack, namespace: "/admin", ackID: 456, data: ByteBuffer(string: "[]"))),
            (
                "4{\"message\":\"Not authorized\"}",
                SocketIOPacket(.connectError, data: ByteBuffer(string: "{\"message\":\"Not authorized\"}"))
            ),
            (
                "51-[\"hello\",{\"_placeholder\":true,\"num\":0}]",
                SocketIOPacket(
                    .binaryEvent, data: ByteBuffer(string: "[\"hello\",{\"_placeholder\":true,\"num\":0}]"),
                    attachments: 1)
            ),
            (
                "61-/admin,456[{\"_placeholder\":true,\"num\":0}]",
                SocketIOPacket(
                    .binaryAck, namespace: "/admin", ackID: 456,
                    data: ByteBuffer(string: "[{\"_placeholder\":true,\"num\":0}]"), attachments: 1)
            ),
        ]
        for (text, expected) in cases {
            let packet = try decode(text)
            #expect(packet == expected, "\(text)")
            // Encoding gives the same text back (the disconnect's trailing comma aside).
            #expect(String(buffer: packet.encoded) == (text == "1/admin," ? "1/admin," : text))
        }
        // A namespace without a comma (as the suites send `40/custom`).
        #expect(try decode("0/custom").namespace == "/custom")
    }

    @Test func refusesWhatTheReferenceParserRefuses() {
        for text in [
            "abc", "7", "2{}", "2[]", "2[{}]", "2[\"connect\"]", "2[\"disconnect\",1]", "2abc[\"x\"]", "0[]",
            "1{}", "3{}", "2[\"x\"", "5-[\"x\"]", "5x-[\"x\"]", "5999999-[\"x\"]", "65-/a,1[",
        ] {
            #expect(throws: SocketIOError.self, "\(text)") { try decode(text) }
        }
        var small = SocketIOLimits()
        small.maxAttachments = 2
        #expect(throws: SocketIOError.self) {
            try SocketIOPacket.decode(ByteBuffer(string: "53-[\"x\"]"), limits: small)
        }
    }

    @Test func assemblesAttachmentsInOrder() throws {
        var assembler = SocketIOBinaryAssembler()
        let packet = try decode("52-789[\"m\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]")
        #expect(assembler.packetReceived(packet) == nil)
        #expect(assembler.isAssembling)
        #expect(try assembler.attachmentReceived(ByteBuffer(bytes: [1, 2, 3])) == nil)
        let whole = try #require(try assembler.attachmentReceived(ByteBuffer(bytes: [4, 5, 6])))
        #expect(whole.attachments == [ByteBuffer(bytes: [1, 2, 3]), ByteBuffer(bytes: [4, 5, 6])])
        #expect(!assembler.isAssembling)
        #expect(throws: SocketIOError.self) { try assembler.attachmentReceived(ByteBuffer(bytes: [7])) }
        // Sent back: the text, then one binary message per attachment.
        let packets = whole.engineIOPackets
        #expect(packets.count == 3)
        #expect(packets[1] == .binary(ByteBuffer(bytes: [1, 2, 3])))
    }

    @Test func everyPrefixOfAValidPacketIsHandledWithoutCrashing() {
        let text = Array("61-/admin,456[{\"_placeholder\":true,\"num\":0},\"\\u00e9\"]".utf8)
        for length in 0...text.count {
            _ = try? SocketIOPacket.decode(ByteBuffer(bytes: text[0..<length]), limits: limits)
            _ = try? EngineIOPayload.decode(ByteBuffer(bytes: text[0..<length]), limits: EngineIOLimits())
        }
    }
}
