import AMQPWire
import NIOCore
import SwitchboardTestSupport
import Testing

/// One channel's frames → commands (§4.2.6), with RabbitMQ's errors (rabbit_command_assembler).
@Suite struct AMQPContentAssemblerTests {
    typealias B = AMQPBytes
    static let publish = AMQPMethod.basic(.publish(AMQPBasicPublish(exchange: "amq.topic", routingKey: "a.b")))

    static func methodFrame(_ method: AMQPMethod) -> AMQPFrame {
        var payload = ByteBuffer()
        method.write(to: &payload)
        return AMQPFrame(type: .method, channel: 1, payload: payload)
    }

    static func headerFrame(classID: UInt16 = 60, weight: UInt16 = 0, bodySize: UInt64, deliveryMode: UInt8? = 2)
        -> AMQPFrame
    {
        var payload = ByteBuffer(bytes: B.u16(classID) + B.u16(weight) + B.u64(bodySize))
        AMQPBasicProperties(deliveryMode: deliveryMode).write(to: &payload)
        return AMQPFrame(type: .header, channel: 1, payload: payload)
    }

    static func bodyFrame(_ text: String) -> AMQPFrame {
        AMQPFrame(type: .body, channel: 1, payload: ByteBuffer(string: text))
    }

    @Test func methodsWithoutContentPassStraightThrough() throws {
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        let ack = AMQPMethod.basic(.ack(deliveryTag: 1, multiple: false))
        #expect(try assembler.frameReceived(Self.methodFrame(ack)) == .method(ack))
        #expect(assembler.isIdle)
    }

    @Test func publishInOneBodyFrameKeepsTheSlice() throws {
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        #expect(try assembler.frameReceived(Self.methodFrame(Self.publish)) == .incomplete)
        #expect(!assembler.isIdle)
        #expect(try assembler.frameReceived(Self.headerFrame(bodySize: 5)) == .incomplete)
        let body = Self.bodyFrame("hello")
        let output = try assembler.frameReceived(body)
        guard case .content(let content) = output else {
            Issue.record("expected content, got \(output)")
            return
        }
        #expect(content.method == Self.publish)
        #expect(content.properties == AMQPBasicProperties(deliveryMode: 2))
        #expect(content.body == ByteBuffer(string: "hello"))
        // No copy: the body is the frame's own bytes.
        body.payload.withUnsafeReadableBytes { frameBytes in
            content.body.withUnsafeReadableBytes { #expect($0.baseAddress == frameBytes.baseAddress) }
        }
        #expect(assembler.isIdle)
    }

    @Test func publishInSeveralBodyFramesIsJoined() throws {
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        _ = try assembler.frameReceived(Self.methodFrame(Self.publish))
        _ = try assembler.frameReceived(Self.headerFrame(bodySize: 11))
        #expect(try assembler.frameReceived(Self.bodyFrame("hel")) == .incomplete)
        #expect(try assembler.frameReceived(Self.bodyFrame("")) == .incomplete)
        #expect(try assembler.frameReceived(Self.bodyFrame("lo wo")) == .incomplete)
        let output = try assembler.frameReceived(Self.bodyFrame("rld"))
        #expect(
            output
                == .content(
                    .init(
                        method: Self.publish, properties: AMQPBasicProperties(deliveryMode: 2),
                        body: ByteBuffer(string: "hello world"))))
    }

    @Test func emptyBodyCompletesAtTheHeader() throws {
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        _ = try assembler.frameReceived(Self.methodFrame(Self.publish))
        let output = try assembler.frameReceived(Self.headerFrame(bodySize: 0, deliveryMode: nil))
        #expect(output == .content(.init(method: Self.publish, properties: AMQPBasicProperties(), body: ByteBuffer())))
        // The next method is read as a method again.
        #expect(try assembler.frameReceived(Self.methodFrame(.tx(.commit))) == .method(.tx(.commit)))
    }

    @Test func contentFrameWithoutAMethod() {
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        #expect(throws: AMQPError.unexpectedFrame("expected method frame, got non method frame instead")) {
            try assembler.frameReceived(Self.headerFrame(bodySize: 1))
        }
        #expect(throws: AMQPError.unexpectedFrame("expected method frame, got non method frame instead")) {
            try assembler.frameReceived(Self.bodyFrame("x"))
        }
        let reason = AMQPError.unexpectedFrame("expected method frame, got non method frame instead").closeReason(
            channel: 1)
        #expect(reason.closesConnection)
        #expect(reason.close.replyCode == 505)
        #expect(reason.close.replyText == "UNEXPECTED_FRAME - expected method frame, got non method frame instead")
    }

    @Test func methodWhereTheHeaderBelongs() throws {
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        _ = try assembler.frameReceived(Self.methodFrame(Self.publish))
        #expect(
            throws: AMQPError.unexpectedFrame(
                "expected content header for class 60, got non content header frame instead", classID: 60, methodID: 40)
        ) { try assembler.frameReceived(Self.methodFrame(Self.publish)) }
        // The error leaves the assembler idle.
        #expect(assembler.isIdle)
    }

    @Test func headerOfAnotherClass() throws {
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        _ = try assembler.frameReceived(Self.methodFrame(Self.publish))
        #expect(
            throws: AMQPError.unexpectedFrame(
                "expected content header for class 60, got one for class 50 instead", classID: 60, methodID: 40)
        ) { try assembler.frameReceived(Self.headerFrame(classID: 50, bodySize: 1)) }
        _ = try assembler.frameReceived(Self.methodFrame(Self.publish))
        #expect(throws: AMQPError.self) { try assembler.frameReceived(Self.headerFrame(weight: 1, bodySize: 1)) }
        _ = try assembler.frameReceived(Self.methodFrame(Self.publish))
        #expect(throws: AMQPError.malformedFrame("content header frame shorter than its fixed fields")) {
            try assembler.frameReceived(AMQPFrame(type: .header, channel: 1, payload: ByteBuffer(bytes: [0, 60, 0])))
        }
    }

    @Test func methodWhereTheBodyBelongs() throws {
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        _ = try assembler.frameReceived(Self.methodFrame(Self.publish))
        _ = try assembler.frameReceived(Self.headerFrame(bodySize: 4))
        _ = try assembler.frameReceived(Self.bodyFrame("ab"))
        #expect(
            throws: AMQPError.unexpectedFrame(
                "expected content body, got non content body frame instead", classID: 60, methodID: 40)
        ) { try assembler.frameReceived(Self.methodFrame(Self.publish)) }
    }

    @Test func bodyPastTheDeclaredSizeIsAFrameError() throws {
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        _ = try assembler.frameReceived(Self.methodFrame(Self.publish))
        _ = try assembler.frameReceived(Self.headerFrame(bodySize: 4))
        _ = try assembler.frameReceived(Self.bodyFrame("ab"))
        #expect(throws: AMQPError.bodyExceedsDeclaredSize(classID: 60, methodID: 40)) {
            try assembler.frameReceived(Self.bodyFrame("cde"))
        }
        // RabbitMQ: FRAME_ERROR, a connection exception.
        let reason = AMQPError.bodyExceedsDeclaredSize(classID: 60, methodID: 40).closeReason(channel: 1)
        #expect(reason.closesConnection && reason.close.replyCode == 501)
        #expect(reason.close.replyText == "FRAME_ERROR - content body frame exceeds remaining content size")
    }

    @Test func declaredBodyOverMaxMessageSizeIsRefusedAtTheHeader() throws {
        var assembler = AMQPContentAssembler(limits: AMQPLimits(maxMessageSize: 1000))
        _ = try assembler.frameReceived(Self.methodFrame(Self.publish))
        #expect(throws: AMQPError.messageTooLarge(size: 1001, maxSize: 1000)) {
            try assembler.frameReceived(Self.headerFrame(bodySize: 1001))
        }
        // A channel exception: channel.close 406 naming basic.publish, RabbitMQ's wording.
        let reason = AMQPError.messageTooLarge(size: 1001, maxSize: 1000).closeReason(channel: 1)
        #expect(!reason.closesConnection)
        #expect(
            reason.method
                == .channel(
                    .close(
                        AMQPClose(
                            replyCode: 406,
                            replyText:
                                "PRECONDITION_FAILED - message size 1001 is larger than configured max size 1000",
                            classID: 60, methodID: 40))))
    }

    @Test func malformedPropertiesNameTheMethod() throws {
        var assembler = AMQPContentAssembler(limits: AMQPLimits())
        _ = try assembler.frameReceived(Self.methodFrame(Self.publish))
        let header = AMQPFrame(
            type: .header, channel: 1, payload: ByteBuffer(bytes: B.u16(60) + B.u16(0) + B.u64(1) + B.u16(0x8000)))
        #expect(throws: AMQPError.malformed("truncated octet", classID: 60, methodID: 40)) {
            try assembler.frameReceived(header)
        }
    }

    @Test func randomBodiesThroughTheDeliveryEncoderAndBack() throws {
        // What the encoder splits at frame-max, the decoder and assembler put back together.
        var random = SplitMix(state: 0xB0D1)
        for _ in 0..<100 {
            let frameMax = [0, 4096, 4097, 9000, 131_072].randomElement(using: &random)!
            let size = Int.random(in: 0...20_000, using: &random)
            let body = ByteBuffer(bytes: (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) })
            let properties = AMQPBasicProperties(contentType: "x/y", priority: 3)
            var out = ByteBuffer()
            AMQPDeliveryEncoder.write(
                Self.publish, channel: 1, content: AMQPEncodedContent(properties: properties, body: body),
                frameMax: frameMax, to: &out)
            var assembler = AMQPContentAssembler(limits: AMQPLimits())
            var results: [AMQPContentAssembler.Output] = []
            while let frame = try AMQPFrameDecoder.decodeFrame(&out, frameMax: frameMax == 0 ? 1 << 20 : frameMax) {
                results.append(try assembler.frameReceived(frame))
            }
            #expect(out.readableBytes == 0)
            #expect(results.last == .content(.init(method: Self.publish, properties: properties, body: body)))
            #expect(results.dropLast().allSatisfy { $0 == .incomplete })
        }
    }
}
