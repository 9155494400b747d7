import CompressNIO
import FrontendKit
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// RFC 7692 §7.2: compressing and inflating one message, the trailing 00 00 ff ff, the size bound.
@Suite struct WebSocketDeflateCodecTests {
    let codec = WebSocketDeflateCodec.current
    let allocator = ByteBufferAllocator()
    let json = ByteBuffer(
        string: String(repeating: #"{"type":"message","channel":"chat/room1","data":{"text":"hello"}}"#, count: 20))

    /// RFC 7692 §7.2.3.1's example: "Hello" compressed into one message.
    @Test func inflatesTheRFCExample() throws {
        let inflated = try codec.decompress(
            ByteBuffer(bytes: [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]), maxBytes: 100, allocator: allocator)
        #expect(String(buffer: inflated) == "Hello")
    }

    /// §7.2.1: the flush's 00 00 ff ff is removed; the message inflates back to itself, twice in a row (the
    /// streams are reset between messages: no context takeover).
    @Test func roundTripsWithoutTheTrailingBytes() throws {
        for _ in 0..<2 {
            let compressed = try codec.compress(json, windowBits: 15, level: 1, headroom: 0, allocator: allocator)
            #expect(compressed.readableBytes < json.readableBytes / 4)
            #expect(Array(compressed.readableBytesView.suffix(4)) != [0x00, 0x00, 0xFF, 0xFF])
            #expect(try codec.decompress(compressed, maxBytes: 4096, allocator: allocator) == json)
        }
    }

    /// A message compressed without context takeover inflates on its own, with a fresh stream: what a
    /// client that keeps its context (a browser) does with each frame we send.
    @Test func eachMessageStandsAlone() throws {
        let first = try codec.compress(json, windowBits: 15, level: 1, headroom: 0, allocator: allocator)
        let second = try codec.compress(json, windowBits: 15, level: 1, headroom: 0, allocator: allocator)
        #expect(first == second)
    }

    /// `server_max_window_bits=8`: zlib deflates with 9, whose matches still fit a 256-byte window, so a
    /// client inflating with 8 reads it (as node-ws does).
    @Test(arguments: [8, 9, 12, 15])
    func aLimitedWindowInflatesWithThatWindow(bits: Int) throws {
        var text = ""
        for index in 0..<400 { text += "message \(index % 37) in a stream of text, " }
        let payload = ByteBuffer(string: text)
        var compressed = try codec.compress(payload, windowBits: bits, level: 6, headroom: 0, allocator: allocator)
        compressed.writeBytes([0x00, 0x00, 0xFF, 0xFF])
        let client = try ZlibDecompressor(algorithm: .deflate, windowSize: Int32(bits))
        var output = allocator.buffer(capacity: payload.readableBytes + 64)
        try client.inflate(from: &compressed, to: &output)
        #expect(output == payload)
    }

    /// A decompression bomb — a few KiB that inflate to 16 MiB — stops at the limit (1009).
    @Test func aBombStopsAtTheLimit() throws {
        let zeros = ByteBuffer(repeating: 0, count: 16 << 20)
        let bomb = try codec.compress(zeros, windowBits: 15, level: 9, headroom: 0, allocator: allocator)
        #expect(bomb.readableBytes < 20_000)
        #expect(throws: WebSocketViolation.messageTooLarge) {
            try codec.decompress(bomb, maxBytes: 1 << 20, allocator: allocator)
        }
        // Exactly at the limit is fine.
        let exact = try codec.compress(
            ByteBuffer(repeating: 0, count: 4096), windowBits: 15, level: 9, headroom: 0, allocator: allocator)
        #expect(try codec.decompress(exact, maxBytes: 4096, allocator: allocator).readableBytes == 4096)
        // The stream is usable after a refusal.
        let again = try codec.compress(json, windowBits: 15, level: 1, headroom: 0, allocator: allocator)
        #expect(try codec.decompress(again, maxBytes: 4096, allocator: allocator) == json)
    }

    @Test func bytesThatAreNotDeflateAreRefused() {
        #expect(throws: WebSocketViolation.invalidCompressedData) {
            try codec.decompress(ByteBuffer(bytes: [0xFF, 0xFF, 0x00]), maxBytes: 100, allocator: allocator)
        }
        #expect(WebSocketCloseCode.forError(WebSocketViolation.invalidCompressedData)?.code == 1007)
    }

    /// RFC 7692 §6: RSV1 on the compressed frame; short messages go uncompressed.
    @Test func theFrameWriterSetsRSV1OnlyOnCompressedFrames() throws {
        let compression = WebSocketCompression(minimumBytes: 128, level: 1)
        let parameters = WebSocketDeflateParameters()
        let big = WebSocketFrameWriter.frame(.text, payload: json, deflate: parameters, compression: compression)
        #expect(big.readableBytesView.first == 0xC1)
        let small = WebSocketFrameWriter.frame(
            .text, payload: ByteBuffer(string: "hi"), deflate: parameters, compression: compression)
        #expect(small.readableBytesView.first == 0x81)
        // Deriving the compressed frame from a plain one gives the same bytes.
        let plain = WebSocketFrameWriter.frame(.text, payload: json)
        #expect(WebSocketFrameWriter.deflating(plain, deflate: parameters, compression: compression) == big)
        // Control frames are never compressed (§6.1).
        let ping = WebSocketFrameWriter.frame(.ping, payload: json.getSlice(at: 0, length: 100)!)
        #expect(WebSocketFrameWriter.deflating(ping, deflate: parameters, compression: compression) == ping)
    }
}

/// The validator with permessage-deflate negotiated: RSV1 rules (RFC 7692 §6) and inflation.
@Suite struct WebSocketCompressedFrameValidatorTests {
    let channel: EmbeddedChannel
    let mask = WebSocketMaskingKey([7, 1, 2, 9])!
    let message = String(repeating: "compress me, ", count: 30)

    init() throws {
        channel = EmbeddedChannel(
            handler: WebSocketClientFrameValidator(maxMessageBytes: 1024, deflate: WebSocketDeflateParameters()))
    }

    func compressed(_ text: String) throws -> ByteBuffer {
        try WebSocketDeflateCodec.current.compress(
            ByteBuffer(string: text), windowBits: 15, level: 6, headroom: 0, allocator: ByteBufferAllocator())
    }

    func frame(_ opcode: WebSocketOpcode, _ payload: ByteBuffer, fin: Bool = true, rsv1: Bool = false) -> WebSocketFrame
    {
        var data = payload
        data.webSocketMask(mask)
        return WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, maskKey: mask, data: data)
    }

    func passed() throws -> [WebSocketFrame] {
        var frames: [WebSocketFrame] = []
        while let frame = try channel.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
        return frames
    }

    @Test func aCompressedMessageIsInflated() throws {
        try channel.writeInbound(frame(.text, try compressed(message), rsv1: true))
        let frames = try passed()
        #expect(frames.count == 1 && frames[0].opcode == .text && !frames[0].rsv1)
        #expect(String(buffer: frames[0].unmaskedData) == message)
    }

    /// RSV1 on the first frame only; the continuation frames carry the rest of the compressed bytes.
    @Test func aFragmentedCompressedMessageIsInflatedWhole() throws {
        var bytes = try compressed(message)
        let first = bytes.readSlice(length: 5)!
        let second = bytes.readSlice(length: 3)!
        try channel.writeInbound(frame(.binary, first, fin: false, rsv1: true))
        try channel.writeInbound(frame(.ping, ByteBuffer(string: "p")))
        try channel.writeInbound(frame(.continuation, second, fin: false))
        try channel.writeInbound(frame(.continuation, bytes))
        let frames = try passed()
        #expect(frames.map(\.opcode) == [.ping, .binary])
        #expect(String(buffer: frames[1].unmaskedData) == message)
    }

    /// Messages need not be compressed: without RSV1 they pass as they are.
    @Test func anUncompressedMessagePasses() throws {
        try channel.writeInbound(frame(.text, ByteBuffer(string: "plain")))
        #expect(try passed().map { String(buffer: $0.unmaskedData) } == ["plain"])
    }

    @Test func rsv1OnAContinuationIsRefused() throws {
        try channel.writeInbound(frame(.text, try compressed(message), fin: false, rsv1: true))
        #expect(throws: WebSocketViolation.reservedBitsSet) {
            try channel.writeInbound(frame(.continuation, ByteBuffer(), rsv1: true))
        }
    }

    @Test func rsv1OnAControlFrameIsRefused() {
        #expect(throws: WebSocketViolation.reservedBitsSet) {
            try channel.writeInbound(frame(.ping, ByteBuffer(string: "p"), rsv1: true))
        }
    }

    @Test func rsv2AndRSV3StayReserved() {
        var bad = frame(.text, ByteBuffer(string: "x"))
        bad.rsv2 = true
        #expect(throws: WebSocketViolation.reservedBitsSet) { try channel.writeInbound(bad) }
    }

    /// The limit applies to the inflated message: small on the wire, too large inflated → 1009.
    @Test func theInflatedSizeIsLimited() throws {
        let big = try compressed(String(repeating: "a", count: 2000))
        #expect(big.readableBytes < 100)
        #expect(throws: WebSocketViolation.messageTooLarge) { try channel.writeInbound(frame(.text, big, rsv1: true)) }
    }
}
