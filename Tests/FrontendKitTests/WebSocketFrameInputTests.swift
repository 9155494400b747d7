import FrontendKit
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// `WebSocketFrameInput`: client frames cut from the byte stream (RFC 6455 §5.2) — split across reads,
/// several in one read, NIO's decoder's errors — and run through the validator it owns.
@Suite struct WebSocketFrameInputTests {
    let channel = EmbeddedChannel(handler: WebSocketFrameInput(maxFrameSize: 300))
    let mask = WebSocketMaskingKey([3, 1, 4, 1])!

    /// A client frame's bytes, masked unless told otherwise; `length` overrides the payload's length field.
    func wire(
        _ opcode: WebSocketOpcode, _ text: String, fin: Bool = true, masked: Bool = true, longLength: Bool = false
    ) -> ByteBuffer {
        var payload = ByteBuffer(string: text)
        if masked { payload.webSocketMask(mask) }
        var bytes = ByteBuffer()
        bytes.writeInteger(UInt8(fin ? 0x80 : 0) | UInt8(webSocketOpcode: opcode))
        let maskBit: UInt8 = masked ? 0x80 : 0
        if longLength {
            bytes.writeInteger(maskBit | 127)
            bytes.writeInteger(UInt64(payload.readableBytes))
        } else if payload.readableBytes < 126 {
            bytes.writeInteger(maskBit | UInt8(payload.readableBytes))
        } else {
            bytes.writeInteger(maskBit | 126)
            bytes.writeInteger(UInt16(payload.readableBytes))
        }
        if masked { bytes.writeBytes(mask) }
        bytes.writeBuffer(&payload)
        return bytes
    }

    func frames() throws -> [(WebSocketOpcode, Bool, String)] {
        var frames: [(WebSocketOpcode, Bool, String)] = []
        while let frame = try channel.readInbound(as: WebSocketFrame.self) {
            frames.append((frame.opcode, frame.fin, String(buffer: frame.unmaskedData)))
        }
        return frames
    }

    @Test func severalFramesInOneReadLeaveInOrder() throws {
        var bytes = wire(.text, "one")
        var second = wire(.ping, "")
        var third = wire(.binary, String(repeating: "3", count: 200))
        bytes.writeBuffer(&second)
        bytes.writeBuffer(&third)
        try channel.writeInbound(bytes)
        let frames = try frames()
        #expect(frames.map(\.0) == [.text, .ping, .binary])
        #expect(frames.map(\.2) == ["one", "", String(repeating: "3", count: 200)])
    }

    @Test func aFrameDripFedByteByByteLeavesOnceWhole() throws {
        var bytes = wire(.text, String(repeating: "x", count: 130))
        var emitted: [String] = []
        while let byte = bytes.readSlice(length: 1) {
            try channel.writeInbound(byte)
            emitted += try frames().map(\.2)
        }
        #expect(emitted == [String(repeating: "x", count: 130)])
    }

    @Test func aSixtyFourBitLengthIsRead() throws {
        try channel.writeInbound(wire(.binary, "long form", longLength: true))
        #expect(try frames().map(\.2) == ["long form"])
    }

    @Test func aFragmentedMessageSplitAcrossReadsIsReassembled() throws {
        var bytes = wire(.text, "hello ", fin: false)
        var rest = wire(.continuation, "world")
        bytes.writeBuffer(&rest)
        let head = bytes.readSlice(length: 9)!
        try channel.writeInbound(head)
        #expect(try frames().isEmpty)
        try channel.writeInbound(bytes)
        let frames = try frames()
        #expect(frames.count == 1 && frames.first?.0 == .text && frames.first?.1 == true)
        #expect(frames.first?.2 == "hello world")
    }

    @Test func anUnmaskedFrameIsRefusedByTheValidator() throws {
        #expect(throws: WebSocketViolation.unmaskedClientFrame) {
            try channel.writeInbound(wire(.text, "x", masked: false))
        }
    }

    @Test func aFrameOverTheLimitIsAnErrorBeforeItsPayloadAndLaterBytesAreDropped() throws {
        var header = wire(.binary, String(repeating: "y", count: 301))
        // The header alone (4 bytes: opcode, 126, the 16-bit length) already says it is too large.
        let first = header.readSlice(length: 4)!
        #expect(throws: NIOWebSocketError.invalidFrameLength) { try channel.writeInbound(first) }
        try channel.writeInbound(wire(.text, "after"))
        #expect(try frames().isEmpty)
    }

    @Test func controlFramesMustBeWholeAndShort() throws {
        #expect(throws: NIOWebSocketError.fragmentedControlFrame) {
            try channel.writeInbound(wire(.ping, "p", fin: false))
        }
        let other = EmbeddedChannel(handler: WebSocketFrameInput(maxFrameSize: 300))
        #expect(throws: NIOWebSocketError.multiByteControlFrameLength) {
            try other.writeInbound(wire(.ping, String(repeating: "p", count: 126)))
        }
    }
}
