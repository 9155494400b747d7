import AMQPWire
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

/// The protocol header (§4.2.2) and framing (§4.2.3): partial input, limits checked from the frame
/// header alone, frame-end, frame types, heartbeats (§4.2.7).
@Suite struct AMQPFrameDecoderTests {
    typealias B = AMQPBytes

    /// Decodes `reads` as a connection receives them; "need more" must leave the reader index alone.
    func decode(_ reads: [[UInt8]], frameMax: Int = 131_072) -> ReadFeeder.Decoded<AMQPInbound, AMQPError> {
        var decoder = AMQPFrameDecoder(frameMax: frameMax)
        let decoded = ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(AMQPError) in
            try decoder.next(&buffer)
        }
        #expect(!decoded.needMoreMovedTheReaderIndex)
        return decoded
    }

    static let stream: [UInt8] =
        AMQPProtocolHeader.supportedBytes
        + B.method(channel: 0, 10, 31, B.u16(2047) + B.u32(131_072) + B.u16(60))
        + AMQPFrame.heartbeatBytes
        + B.method(channel: 1, 60, 40, B.u16(0) + B.ss("") + B.ss("q") + [0])
        + B.frame(2, channel: 1, B.u16(60) + B.u16(0) + B.u64(3) + B.u16(0))
        + B.frame(3, channel: 1, Array("abc".utf8))
        + B.frame(3, channel: 1, [])

    static let expected: [AMQPInbound] = [
        .protocolHeader(.amqp0_9_1),
        .frame(
            AMQPFrame(
                type: .method, channel: 0,
                payload: ByteBuffer(bytes: B.u16(10) + B.u16(31) + B.u16(2047) + B.u32(131_072) + B.u16(60)))),
        .frame(.heartbeat),
        .frame(
            AMQPFrame(
                type: .method, channel: 1,
                payload: ByteBuffer(bytes: B.u16(60) + B.u16(40) + B.u16(0) + [0, 1, 0x71, 0])
            )),
        .frame(
            AMQPFrame(
                type: .header, channel: 1, payload: ByteBuffer(bytes: B.u16(60) + B.u16(0) + B.u64(3) + B.u16(0)))),
        .frame(AMQPFrame(type: .body, channel: 1, payload: ByteBuffer(string: "abc"))),
        .frame(AMQPFrame(type: .body, channel: 1, payload: ByteBuffer())),
    ]

    @Test func wholeStream() {
        let decoded = decode([Self.stream])
        #expect(decoded.error == nil)
        #expect(decoded.values == Self.expected)
    }

    @Test func dripFeedByteByByte() {
        let decoded = decode(Self.stream.byteByByte)
        #expect(decoded.error == nil)
        #expect(decoded.values == Self.expected)
    }

    @Test func randomChunks() {
        var random = SplitMix(state: 91)
        for _ in 0..<200 {
            let decoded = decode(Self.stream.randomReads(sizes: 1...17, using: &random))
            #expect(decoded.error == nil)
            #expect(decoded.values == Self.expected)
        }
    }

    @Test func payloadIsASliceOfTheReadBuffer() throws {
        var buffer = ByteBuffer(bytes: B.frame(3, channel: 1, Array(repeating: 7, count: 1000)))
        let storage = buffer.withUnsafeReadableBytes { $0.baseAddress! }
        let frame = try #require(try AMQPFrameDecoder.decodeFrame(&buffer, frameMax: 4096))
        frame.payload.withUnsafeReadableBytes { #expect($0.baseAddress! == storage + 7) }
    }

    @Test func unsupportedProtocolHeader() {
        // AMQP 0-8, AMQP 1.0 and an HTTP request: we answer with our header and close.
        let amqp0_8: [UInt8] = [0x41, 0x4D, 0x51, 0x50, 0x01, 0x01, 0x08, 0x00]
        #expect(decode([amqp0_8]).values == [.protocolHeader(.unsupported(amqp0_8))])
        let amqp1_0: [UInt8] = [0x41, 0x4D, 0x51, 0x50, 0x03, 0x01, 0x00, 0x00]
        #expect(decode([amqp1_0]).values == [.protocolHeader(.unsupported(amqp1_0))])
        // 0-9's header is taken as 0-9-1, as RabbitMQ does.
        let amqp0_9: [UInt8] = [0x41, 0x4D, 0x51, 0x50, 0x01, 0x01, 0x00, 0x09]
        #expect(decode([amqp0_9]).values == [.protocolHeader(.amqp0_9_1)])
        let http = Array("GET / HTTP/1.1\r\n".utf8)
        #expect(decode([http]).values.first == .protocolHeader(.unsupported(Array(http.prefix(8)))))
        var reply = ByteBuffer()
        AMQPProtocolHeader.write(to: &reply)
        #expect(Array(reply.readableBytesView) == [0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1])
        // Seven octets: wait.
        #expect(decode([Array(AMQPProtocolHeader.supportedBytes.prefix(7))]).values.isEmpty)
    }

    @Test func frameOverFrameMaxIsRefusedFromItsHeaderAlone() {
        // Only the seven header octets of a 1 MB frame have arrived: refused before anything is buffered.
        let header: [UInt8] = [1, 0, 1] + B.u32(1_000_000)
        var buffer = ByteBuffer(bytes: header)
        #expect(throws: AMQPError.frameTooLarge(size: 1_000_008, frameMax: 131_072)) {
            try AMQPFrameDecoder.decodeFrame(&buffer, frameMax: 131_072)
        }
        // frame-max counts the eight octets of overhead: a 4088-byte payload fits 4096. RabbitMQ tolerates
        // clients that forget the overhead (payloads up to 4096), and so do we; 4097 is refused.
        var fits = ByteBuffer(bytes: B.frame(3, channel: 1, Array(repeating: 0, count: 4088)))
        #expect(throws: Never.self) { try AMQPFrameDecoder.decodeFrame(&fits, frameMax: 4096) }
        var tolerated = ByteBuffer(bytes: B.frame(3, channel: 1, Array(repeating: 0, count: 4096)))
        #expect(throws: Never.self) { try AMQPFrameDecoder.decodeFrame(&tolerated, frameMax: 4096) }
        var over = ByteBuffer(bytes: [3, 0, 1] + B.u32(4097))
        #expect(throws: AMQPError.frameTooLarge(size: 4105, frameMax: 4096)) {
            try AMQPFrameDecoder.decodeFrame(&over, frameMax: 4096)
        }
        // Before tune-ok the decoder holds to the spec's minimum.
        #expect(AMQPFrameDecoder().frameMax == AMQPLimits.minFrameMax)
        let error = AMQPError.frameTooLarge(size: 4105, frameMax: 4096).closeReason(channel: 0)
        #expect(error.closesConnection && error.close.replyCode == 501)
    }

    @Test func badFrameEnd() {
        var bytes = B.frame(3, channel: 1, [1, 2])
        bytes[bytes.count - 1] = 0xCD
        #expect(decode([AMQPProtocolHeader.supportedBytes, bytes]).error == .badFrameEnd(0xCD))
        #expect(AMQPError.badFrameEnd(0xCD).closeReason(channel: 1).close.replyCode == 501)
    }

    @Test func unknownFrameType() {
        #expect(decode([AMQPProtocolHeader.supportedBytes, B.frame(4, channel: 0, [])]).error == .unknownFrameType(4))
    }

    @Test func heartbeatRules() {
        // §4.2.7: heartbeats are on channel 0 and empty.
        #expect(
            decode([AMQPProtocolHeader.supportedBytes, B.frame(8, channel: 1, [])]).error
                == .malformedFrame("heartbeat frame on channel 1"))
        #expect(
            decode([AMQPProtocolHeader.supportedBytes, B.frame(8, channel: 0, [0])]).error
                == .malformedFrame("heartbeat frame with a payload"))
        var buffer = ByteBuffer()
        AMQPFrame.heartbeat.write(to: &buffer)
        #expect(Array(buffer.readableBytesView) == AMQPFrame.heartbeatBytes)
    }

    @Test func raisedFrameMaxAppliesToLaterFrames() throws {
        var decoder = AMQPFrameDecoder(frameMax: 4096, expectsProtocolHeader: false)
        var buffer = ByteBuffer(bytes: B.frame(3, channel: 1, Array(repeating: 1, count: 5000)))
        #expect(throws: AMQPError.self) { try decoder.next(&buffer) }
        decoder.frameMax = 131_072
        buffer.moveReaderIndex(to: 0)
        #expect(try decoder.next(&buffer) != nil)
    }

    @Test func asAChannelHandler() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(AMQPFrameDecoder()))
        try channel.writeInbound(ByteBuffer(bytes: Self.stream.prefix(20)))
        try channel.writeInbound(ByteBuffer(bytes: Self.stream.dropFirst(20)))
        var received: [AMQPInbound] = []
        while let inbound: AMQPInbound = try channel.readInbound() { received.append(inbound) }
        #expect(received == Self.expected)
        #expect(try channel.finish().isClean)
    }
}
