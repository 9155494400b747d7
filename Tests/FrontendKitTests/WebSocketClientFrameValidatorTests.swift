import FrontendKit
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// The RFC 6455 rules NIO's frame decoder leaves to the server (§5.1 masking, §5.2 reserved bits, §5.4
/// fragmentation), the message size limit, and reassembly.
@Suite struct WebSocketClientFrameValidatorTests {
    let channel: EmbeddedChannel
    /// Client frames are masked (RFC 6455 §5.1); the key's value does not matter.
    let mask = WebSocketMaskingKey([7, 1, 2, 9])!

    init() throws {
        channel = EmbeddedChannel(handler: WebSocketClientFrameValidator(maxMessageBytes: 16))
    }

    func frame(
        _ opcode: WebSocketOpcode, _ text: String, fin: Bool = true, masked: Bool = true, rsv1: Bool = false
    ) -> WebSocketFrame {
        var data = ByteBuffer(string: text)
        if masked { data.webSocketMask(mask) }
        return WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, maskKey: masked ? mask : nil, data: data)
    }

    /// The frames passed on since the last call, as (opcode, fin, unmasked text).
    func passed() throws -> [(WebSocketOpcode, Bool, String)] {
        var frames: [(WebSocketOpcode, Bool, String)] = []
        while let frame = try channel.readInbound(as: WebSocketFrame.self) {
            frames.append((frame.opcode, frame.fin, String(buffer: frame.unmaskedData)))
        }
        return frames
    }

    @Test func aWholeMaskedFramePassesAsItIs() throws {
        try channel.writeInbound(frame(.text, "hello"))
        let frames = try passed()
        #expect(frames.count == 1 && frames.first?.0 == .text && frames.first?.2 == "hello")
    }

    @Test func fragmentsAreReassembledAndControlFramesMayInterleave() throws {
        try channel.writeInbound(frame(.binary, "ab", fin: false))
        try channel.writeInbound(frame(.ping, "p"))
        try channel.writeInbound(frame(.continuation, "cd", fin: false))
        try channel.writeInbound(frame(.continuation, "ef"))
        let frames = try passed()
        #expect(frames.map(\.0) == [.ping, .binary])
        #expect(frames.last?.1 == true && frames.last?.2 == "abcdef")
    }

    @Test func anUnmaskedClientFrameIsRefused() {
        #expect(throws: WebSocketViolation.unmaskedClientFrame) {
            try channel.writeInbound(frame(.text, "x", masked: false))
        }
    }

    @Test func aReservedBitWithoutAnExtensionIsRefused() {
        #expect(throws: WebSocketViolation.reservedBitsSet) { try channel.writeInbound(frame(.text, "x", rsv1: true)) }
    }

    @Test func aContinuationWithoutAMessageIsRefused() {
        #expect(throws: WebSocketViolation.unexpectedContinuation) {
            try channel.writeInbound(frame(.continuation, "x"))
        }
    }

    @Test func aNewMessageInsideAFragmentedOneIsRefused() throws {
        try channel.writeInbound(frame(.text, "a", fin: false))
        #expect(throws: WebSocketViolation.interleavedMessage) { try channel.writeInbound(frame(.text, "b")) }
    }

    @Test func aReservedOpcodeIsRefused() {
        let reserved = WebSocketOpcode(encodedWebSocketOpcode: 0x3)!
        #expect(throws: WebSocketViolation.unknownOpcode) { try channel.writeInbound(frame(reserved, "x")) }
    }

    @Test func aMessageOverTheLimitIsRefusedAcrossFragments() throws {
        try channel.writeInbound(frame(.text, String(repeating: "a", count: 10), fin: false))
        #expect(throws: WebSocketViolation.messageTooLarge) {
            try channel.writeInbound(frame(.continuation, String(repeating: "b", count: 7)))
        }
    }

    /// No fragment count cap: 5,000 one-byte fragments of a message within the size limit are reassembled
    /// (Autobahn 9.3/9.4 send 4 MiB in 64-byte fragments); the size limit still applies across them.
    @Test func anyNumberOfFragmentsWithinTheLimitIsAccepted() throws {
        let channel = EmbeddedChannel(handler: WebSocketClientFrameValidator(maxMessageBytes: 5_000))
        try channel.writeInbound(frame(.binary, "a", fin: false))
        for _ in 0..<4_998 { try channel.writeInbound(frame(.continuation, "b", fin: false)) }
        try channel.writeInbound(frame(.continuation, "c"))
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.unmaskedData.readableBytes == 5_000)
        try channel.writeInbound(frame(.binary, "a", fin: false))
        for _ in 0..<4_999 { try channel.writeInbound(frame(.continuation, "b", fin: false)) }
        #expect(throws: WebSocketViolation.messageTooLarge) { try channel.writeInbound(frame(.continuation, "c")) }
    }

    @Test func everythingAfterAViolationIsDropped() throws {
        #expect(throws: WebSocketViolation.unmaskedClientFrame) {
            try channel.writeInbound(frame(.text, "x", masked: false))
        }
        try channel.writeInbound(frame(.text, "after"))
        #expect(try passed().isEmpty)
    }

    @Test func violationsMapToTheirCloseCodes() {
        #expect(WebSocketCloseCode.forError(WebSocketViolation.messageTooLarge)?.code == 1009)
        #expect(WebSocketCloseCode.forError(WebSocketViolation.reservedBitsSet)?.code == 1002)
        #expect(WebSocketCloseCode.forError(ChannelError.ioOnClosedChannel) == nil)
    }

    @Test(
        arguments: [
            ([], 1000, false), ([0x03], 1002, true), ([0x03, 0xE8], 1000, false), ([0x03, 0xED], 1002, true),
            ([0x0F, 0xA0], 4000, false), ([0x03, 0xE8, 0xC3, 0x28], 1007, true),
        ] as [([UInt8], UInt16, Bool)])
    func aCloseBodyIsEchoedOrFailed(body: [UInt8], code: UInt16, isFailure: Bool) {
        let answer = WebSocketCloseCode.answer(toCloseBody: ByteBuffer(bytes: body))
        #expect(answer.code == code && answer.isFailure == isFailure)
    }
}
