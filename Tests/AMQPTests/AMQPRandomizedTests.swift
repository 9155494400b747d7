import AMQPWire
import NIOCore
import SwitchboardTestSupport
import Testing

/// Seeded randomized round trips and garbage: decoding any bytes must throw or return, never crash, and
/// whatever decodes must re-encode to bytes that decode to the same value. (libFuzzer runs are not wired
/// for AMQP yet: that needs AMQPWire in the shared DecoderFuzz target.)
@Suite struct AMQPRandomizedTests {
    static let limits = AMQPLimits()

    static func randomName(using random: inout SplitMix) -> String {
        String(
            (0..<Int.random(in: 0...30, using: &random)).map { _ in "abcxyz.*#-_/é1".randomElement(using: &random)! })
    }

    static func randomMethod(using random: inout SplitMix) -> AMQPMethod {
        let name = { (random: inout SplitMix) in randomName(using: &random) }
        let bit = { (random: inout SplitMix) in Bool.random(using: &random) }
        switch Int.random(in: 0..<8, using: &random) {
        case 0:
            return .basic(
                .publish(
                    AMQPBasicPublish(
                        exchange: name(&random), routingKey: name(&random), mandatory: bit(&random),
                        immediate: bit(&random))))
        case 1:
            return .basic(
                .deliver(
                    AMQPBasicDeliver(
                        consumerTag: name(&random), deliveryTag: random.next(), redelivered: bit(&random),
                        exchange: name(&random), routingKey: name(&random))))
        case 2:
            return .basic(
                .consume(
                    AMQPBasicConsume(
                        queue: name(&random), consumerTag: name(&random), noLocal: bit(&random), noAck: bit(&random),
                        exclusive: bit(&random), noWait: bit(&random),
                        arguments: AMQPFieldTableTests.randomTable(depth: 3, using: &random))))
        case 3:
            return .queue(
                .declare(
                    AMQPQueueDeclare(
                        queue: name(&random), passive: bit(&random), durable: bit(&random), exclusive: bit(&random),
                        autoDelete: bit(&random), noWait: bit(&random),
                        arguments: AMQPFieldTableTests.randomTable(depth: 3, using: &random))))
        case 4:
            return .exchange(
                .declare(
                    AMQPExchangeDeclare(
                        exchange: name(&random), type: name(&random), passive: bit(&random), durable: bit(&random),
                        autoDelete: bit(&random), internal: bit(&random), noWait: bit(&random),
                        arguments: AMQPFieldTableTests.randomTable(depth: 2, using: &random))))
        case 5:
            return .basic(.nack(deliveryTag: random.next(), multiple: bit(&random), requeue: bit(&random)))
        case 6:
            return .queue(
                .delete(
                    AMQPQueueDelete(
                        queue: name(&random), ifUnused: bit(&random), ifEmpty: bit(&random), noWait: bit(&random))))
        default:
            return .channel(
                .close(
                    AMQPClose(
                        replyCode: UInt16.random(in: 0...999, using: &random), replyText: name(&random),
                        classID: UInt16.random(in: 0...100, using: &random),
                        methodID: UInt16.random(in: 0...200, using: &random))))
        }
    }

    @Test func randomMethodsRoundTrip() throws {
        var random = SplitMix(state: 0x0A3F)
        for _ in 0..<2000 {
            let method = Self.randomMethod(using: &random)
            let channel = UInt16.random(in: 0...2047, using: &random)
            let (decodedChannel, decoded) = try decodeMethodFrame(method.frameBytes(channel: channel))
            #expect(decodedChannel == channel)
            #expect(decoded == method)
        }
    }

    /// A stream of every golden method, pika's frames, a header and body: the seed for mutations.
    static var seedStream: [UInt8] {
        var bytes = AMQPProtocolHeader.supportedBytes
        for (method, _, _, _) in AMQPMethodGoldenBytesTests.cases { bytes += method.frameBytes(channel: 1) }
        for (hex, _, _) in AMQPPikaReferenceTests.methods { bytes += AMQPBytes.hex(hex) }
        var content = ByteBuffer()
        AMQPEncodedContent(
            properties: AMQPBasicProperties(headers: ["a": .array([.void])]), body: ByteBuffer(string: "xyz")
        )
        .writeFrames(channel: 1, frameMax: 4096, to: &content)
        return bytes + Array(content.readableBytesView)
    }

    /// Runs bytes through decoder, method decoding and an assembler the way a frontend would; checks the
    /// round-trip invariant on every method that decodes.
    static func exercise(_ reads: [[UInt8]]) {
        var decoder = AMQPFrameDecoder(frameMax: 8192)
        let decoded = ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(AMQPError) in
            try decoder.next(&buffer)
        }
        #expect(!decoded.needMoreMovedTheReaderIndex)
        var assembler = AMQPContentAssembler(limits: AMQPLimits(maxFieldTableDepth: 8))
        for case .frame(let frame) in decoded.values {
            if frame.type == .method, let method = try? AMQPMethod.decode(frame.payload, limits: limits) {
                let again = try? AMQPMethod.decode(
                    ByteBuffer(bytes: method.frameBytes(channel: 0).dropFirst(7).dropLast()), limits: limits)
                #expect(again == method, "re-encoding changed \(method.name)")
            }
            if frame.type == .header, let header = try? AMQPContentHeader.decode(frame.payload, limits: limits) {
                var encoded = ByteBuffer()
                header.write(to: &encoded)
                #expect((try? AMQPContentHeader.decode(encoded, limits: limits)) == header)
            }
            if frame.type != .heartbeat { _ = try? assembler.frameReceived(frame) }
        }
    }

    @Test func mutatedStreamsNeverCrash() {
        var random = SplitMix(state: 0xF00D)
        let seed = Self.seedStream
        let mutator = ByteMutator(truncates: true)
        for _ in 0..<1500 {
            let mutated = mutator.mutate(seed, edits: 1...8, using: &random)
            Self.exercise(mutated.randomReads(sizes: 1...300, using: &random))
        }
    }

    @Test func mutatedMethodPayloadsNeverCrash() {
        // Mutations inside one method's payload, past the frame layer, so the argument readers see them.
        var random = SplitMix(state: 0xBEEF)
        let payloads = AMQPMethodGoldenBytesTests.cases.map {
            Array($0.0.frameBytes(channel: 0).dropFirst(7).dropLast())
        }
        let mutator = ByteMutator(truncates: true)
        for _ in 0..<20_000 {
            let payload = mutator.mutate(payloads.randomElement(using: &random)!, edits: 1...4, using: &random)
            guard let method = try? AMQPMethod.decode(ByteBuffer(bytes: payload), limits: Self.limits) else { continue }
            let again = try? AMQPMethod.decode(
                ByteBuffer(bytes: method.frameBytes(channel: 0).dropFirst(7).dropLast()), limits: Self.limits)
            #expect(again == method)
        }
    }

    @Test func randomBytesNeverCrash() {
        var random = SplitMix(state: 0xDEAD)
        for _ in 0..<1000 {
            let count = Int.random(in: 0...600, using: &random)
            var bytes = AMQPProtocolHeader.supportedBytes
            // Mostly frame-shaped noise: a valid type and small size often enough to reach the payload readers.
            while bytes.count < count {
                let size = Int.random(in: 0...40, using: &random)
                bytes += [UInt8.random(in: 1...3, using: &random), 0, 1] + AMQPBytes.u32(UInt32(size))
                bytes += (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) } + [0xCE]
            }
            Self.exercise([bytes])
            Self.exercise([(0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }])
        }
    }
}
