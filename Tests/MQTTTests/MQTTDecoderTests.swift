import MQTTWire
import NIOCore
import SwitchboardTestSupport
import Testing

/// The decoder on partial input (drip-fed byte by byte and in random chunks) and on malformed input.
@Suite struct MQTTDecoderTests {
    static let limits = MQTTLimits()

    static var samplePackets: [(MQTTProtocolVersion, MQTTPacket)] {
        var properties = MQTTProperties()
        properties.userProperties = [MQTTUserProperty(name: "n", value: "ü")]
        properties.messageExpiryInterval = 3
        properties.correlationData = ByteBuffer(bytes: [1, 2, 3])
        let big = ByteBuffer(repeating: 7, count: 20_000)
        return [MQTTProtocolVersion.v3_1_1, .v5].flatMap { version -> [(MQTTProtocolVersion, MQTTPacket)] in
            let props = version == .v5 ? properties : MQTTProperties()
            return [
                (version, .publish(MQTTPublishPacket(topic: "a/b", payload: ByteBuffer(string: "one")))),
                (
                    version,
                    .publish(
                        MQTTPublishPacket(topic: "big", payload: big, qos: .atLeastOnce, packetID: 9, properties: props)
                    )
                ),
                (version, .ack(MQTTAckPacket(.pubRel, packetID: 4))),
                (
                    version,
                    .subscribe(
                        MQTTSubscribePacket(
                            packetID: 2, subscriptions: [MQTTSubscription(filter: "x/#", maxQoS: .exactlyOnce)]))
                ),
                (version, .unsubscribe(MQTTUnsubscribePacket(packetID: 5, filters: ["x/#", "y"]))),
                (version, .pingReq),
                (version, .disconnect(MQTTDisconnectPacket())),
            ]
        }
    }

    /// Decodes `reads` as a connection receives them; "need more" must leave the reader index alone.
    func decode(_ reads: [[UInt8]], version: MQTTProtocolVersion) throws -> [MQTTPacket] {
        let decoded = ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(MQTTError) in
            try MQTTPacketDecoder.decode(&buffer, version: version, limits: Self.limits)
        }
        #expect(!decoded.needMoreMovedTheReaderIndex)
        if let error = decoded.error { throw error }
        return decoded.values
    }

    @Test func dripFeedByteByByte() throws {
        for version in [MQTTProtocolVersion.v3_1_1, .v5] {
            let packets = Self.samplePackets.filter { $0.0 == version }.map(\.1)
            var stream: [UInt8] = []
            for packet in packets { stream += packet.encoded(version: version).readableBytesView }
            let decoded = try decode(stream.byteByByte, version: version)
            #expect(decoded == packets)
        }
    }

    @Test func randomChunks() throws {
        var random = SplitMix(state: 7)
        for version in [MQTTProtocolVersion.v3_1_1, .v5] {
            let packets = Self.samplePackets.filter { $0.0 == version }.map(\.1)
            var stream: [UInt8] = []
            for packet in packets { stream += packet.encoded(version: version).readableBytesView }
            for _ in 0..<20 {
                #expect(try decode(stream.randomReads(sizes: 1...700, using: &random), version: version) == packets)
            }
        }
    }

    func decodeError(_ bytes: [UInt8], version: MQTTProtocolVersion? = .v5, limits: MQTTLimits = limits) -> MQTTError? {
        var buffer = ByteBuffer(bytes: bytes)
        do {
            _ = try MQTTPacketDecoder.decode(&buffer, version: version, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func malformedInputIsRefusedWithTheRightReason() {
        // [MQTT-3.1.0-1] the first packet must be CONNECT.
        #expect(decodeError([0xC0, 0], version: nil) == .protocolError("the first packet must be CONNECT"))
        // Reserved type 0.
        #expect(MQTTReasonCode.forError(decodeError([0x00, 0])!) == .malformedPacket)
        // [MQTT-3.3.1-4] QoS 3.
        #expect(MQTTReasonCode.forError(decodeError([0x36, 3, 0, 1, 0x61])!) == .malformedPacket)
        // [MQTT-3.3.1-2] DUP with QoS 0.
        #expect(MQTTReasonCode.forError(decodeError([0x38, 3, 0, 1, 0x61])!) == .malformedPacket)
        // [MQTT-3.8.1-1] SUBSCRIBE flags.
        #expect(MQTTReasonCode.forError(decodeError([0x80, 6, 0, 1, 0, 1, 0x61, 0])!) == .malformedPacket)
        // [MQTT-3.8.3-3] SUBSCRIBE without filters.
        #expect(MQTTReasonCode.forError(decodeError([0x82, 3, 0, 1, 0])!) == .protocolError)
        // [MQTT-3.6.1-1] PUBREL flags.
        #expect(MQTTReasonCode.forError(decodeError([0x60, 2, 0, 1])!) == .malformedPacket)
        // [MQTT-1.5.4-2] U+0000 in a topic.
        #expect(
            MQTTReasonCode.forError(decodeError([0x30, 4, 0, 2, 0x61, 0x00], version: .v3_1_1)!) == .malformedPacket)
        // [MQTT-1.5.4-1] invalid UTF-8.
        #expect(MQTTReasonCode.forError(decodeError([0x30, 3, 0, 1, 0xFF], version: .v3_1_1)!) == .malformedPacket)
        // A five-byte remaining length.
        #expect(MQTTReasonCode.forError(decodeError([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])!) == .malformedPacket)
        // String longer than the packet.
        #expect(MQTTReasonCode.forError(decodeError([0x30, 2, 0, 9])!) == .malformedPacket)
        // [MQTT-2.2.2-2] a property twice (two payload format indicators).
        #expect(MQTTReasonCode.forError(decodeError([0x30, 8, 0, 1, 0x61, 4, 1, 0, 1, 0])!) == .protocolError)
        // A property not valid for the packet type (session expiry in PUBLISH).
        #expect(MQTTReasonCode.forError(decodeError([0x30, 9, 0, 1, 0x61, 5, 0x11, 0, 0, 0, 1])!) == .malformedPacket)
        // [MQTT-3.1.2-3] CONNECT reserved flag.
        let connect: [UInt8] = [0x10, 12, 0, 4, 0x4D, 0x51, 0x54, 0x54, 4, 0x01, 0, 0, 0, 0]
        #expect(MQTTReasonCode.forError(decodeError(connect, version: nil)!) == .malformedPacket)
        // [MQTT-3.1.2-2] unsupported protocol level.
        let level6: [UInt8] = [0x10, 12, 0, 4, 0x4D, 0x51, 0x54, 0x54, 6, 0x02, 0, 0, 0, 0]
        #expect(decodeError(level6, version: nil) == .unsupportedProtocolVersion(6))
    }

    @Test func packetLargerThanTheLimitIsRefusedBeforeItsBodyArrives() {
        let limits = MQTTLimits(maxPacketSize: 100)
        // Header only: remaining length 200, no body yet.
        #expect(decodeError([0x30, 0xC8, 0x01], limits: limits) == .packetTooLarge(203))
    }

    @Test func mutatedPacketsNeverCrash() {
        var random = SplitMix(state: 42)
        let seeds = Self.samplePackets.map { Array($0.1.encoded(version: $0.0).readableBytesView.prefix(300)) }
        for round in 0..<6_000 {
            let bytes = ByteMutator().mutate(seeds[round % seeds.count], edits: 1...4, using: &random)
            for version in [MQTTProtocolVersion.v3_1_1, .v5, nil] {
                var buffer = ByteBuffer(bytes: bytes)
                while let packet = try? MQTTPacketDecoder.decode(&buffer, version: version, limits: Self.limits) {
                    // Whatever decodes must re-encode and decode to itself.
                    let again = packet.encoded(version: version ?? .v5)
                    var copy = again
                    let reread = try? MQTTPacketDecoder.decode(&copy, version: version ?? .v5, limits: Self.limits)
                    if case .connect = packet {} else { #expect(reread == packet) }
                }
            }
        }
    }
}
