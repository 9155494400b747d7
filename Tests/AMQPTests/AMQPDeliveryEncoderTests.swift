import AMQPWire
import NIOCore
import Testing

/// The consumer hot path: basic.deliver, content header and body frames written straight into one
/// buffer, equal to the method and header values written one by one (§4.2.6).
@Suite struct AMQPDeliveryEncoderTests {
    typealias B = AMQPBytes

    static let properties = AMQPBasicProperties(contentType: "text/plain", headers: ["k": .int32(1)], deliveryMode: 2)

    @Test func deliverGolden() {
        let content = AMQPEncodedContent(
            properties: AMQPBasicProperties(deliveryMode: 1), body: ByteBuffer(string: "hi"))
        var out = ByteBuffer()
        AMQPDeliveryEncoder.writeDeliver(
            channel: 5, consumerTag: "c", deliveryTag: 9, redelivered: true, exchange: "amq.topic", routingKey: "a.b",
            content: content, frameMax: 131_072, to: &out)
        let expected =
            B.method(channel: 5, 60, 60, B.ss("c") + B.u64(9) + [1] + B.ss("amq.topic") + B.ss("a.b"))
            + B.frame(2, channel: 5, B.u16(60) + B.u16(0) + B.u64(2) + B.u16(0x1000) + [1])
            + B.frame(3, channel: 5, Array("hi".utf8))
        #expect(Array(out.readableBytesView) == expected)
    }

    @Test func deliverEqualsTheValueEncoding() {
        let body = ByteBuffer(repeating: 0x61, count: 10_000)
        let content = AMQPEncodedContent(properties: Self.properties, body: body)
        for frameMax in [0, 4096, 5000, 131_072] {
            var fast = ByteBuffer()
            AMQPDeliveryEncoder.writeDeliver(
                channel: 2, consumerTag: "amq.ctag-x", deliveryTag: 1 << 40, redelivered: false, exchange: "",
                routingKey: "q", content: content, frameMax: frameMax, to: &fast)
            var slow = ByteBuffer()
            AMQPMethod.basic(
                .deliver(
                    AMQPBasicDeliver(
                        consumerTag: "amq.ctag-x", deliveryTag: 1 << 40, redelivered: false, exchange: "",
                        routingKey: "q"
                    ))
            ).writeFrame(channel: 2, to: &slow)
            AMQPContentHeader(bodySize: 10_000, properties: Self.properties).writeFrame(channel: 2, to: &slow)
            let perFrame = frameMax == 0 ? 10_000 : frameMax - 8
            var offset = 0
            while offset < 10_000 {
                let count = min(perFrame, 10_000 - offset)
                AMQPFrame(type: .body, channel: 2, payload: body.getSlice(at: offset, length: count)!).write(to: &slow)
                offset += count
            }
            #expect(fast == slow, "frame-max \(frameMax)")
            #expect(fast.readableBytes == content.framesSize(frameMax: frameMax) + 8 + 4 + 11 + 8 + 1 + 1 + 2)
        }
    }

    /// The raw writer for a publisher's own property bytes writes what the value encoding writes, after
    /// whatever the buffer held, for one body frame, several, and none.
    @Test func propertyBytesDeliverEqualsTheContentEncoding() {
        var propertyBytes = ByteBuffer()
        Self.properties.write(to: &propertyBytes)
        for (frameMax, size) in [(0, 10_000), (4096, 10_000), (5000, 4992), (131_072, 16), (4096, 0)] {
            let body = ByteBuffer(repeating: 0x62, count: size)
            var fast = ByteBuffer(string: "before")
            AMQPDeliveryEncoder.writeDeliver(
                channel: 7, consumerTag: "amq.ctag-é", deliveryTag: 1 << 33, redelivered: true, exchange: "ex",
                routingKey: "a.b.c", propertyBytes: propertyBytes, body: body, frameMax: frameMax, to: &fast)
            var slow = ByteBuffer(string: "before")
            AMQPDeliveryEncoder.writeDeliver(
                channel: 7, consumerTag: "amq.ctag-é", deliveryTag: 1 << 33, redelivered: true, exchange: "ex",
                routingKey: "a.b.c", content: AMQPEncodedContent(properties: Self.properties, body: body),
                frameMax: frameMax, to: &slow)
            #expect(fast == slow, "frame-max \(frameMax), body \(size)")
        }
    }

    @Test func bodyFramesRespectFrameMax() throws {
        let content = AMQPEncodedContent(properties: AMQPBasicProperties(), body: ByteBuffer(repeating: 1, count: 8177))
        var out = ByteBuffer()
        content.writeFrames(channel: 1, frameMax: 4096, to: &out)
        var sizes: [Int] = []
        while let frame = try AMQPFrameDecoder.decodeFrame(&out, frameMax: 4096) {
            sizes.append(frame.payload.readableBytes)
        }
        // Header, then 4088 + 4088 + 1.
        #expect(sizes == [14, 4088, 4088, 1])
    }

    @Test func emptyBodyHasNoBodyFrame() throws {
        let content = AMQPEncodedContent(properties: AMQPBasicProperties(), body: ByteBuffer())
        var out = ByteBuffer()
        content.writeFrames(channel: 1, frameMax: 4096, to: &out)
        #expect(Array(out.readableBytesView) == B.frame(2, channel: 1, B.u16(60) + B.u16(0) + B.u64(0) + B.u16(0)))
    }

    @Test func getOkAndReturnCarryContentToo() throws {
        let content = AMQPEncodedContent(properties: AMQPBasicProperties(), body: ByteBuffer(string: "x"))
        var out = ByteBuffer()
        let returned = AMQPMethod.basic(
            .return(AMQPBasicReturn(replyCode: 312, replyText: "NO_ROUTE", exchange: "e", routingKey: "k")))
        AMQPDeliveryEncoder.write(returned, channel: 1, content: content, frameMax: 4096, to: &out)
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        var last: AMQPContentAssembler.Output?
        while let frame = try AMQPFrameDecoder.decodeFrame(&out, frameMax: 4096) {
            last = try assembler.frameReceived(frame)
        }
        #expect(
            last == .content(.init(method: returned, properties: AMQPBasicProperties(), body: ByteBuffer(string: "x"))))
    }
}
