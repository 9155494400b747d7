import AMQPWire
import NIOCore
import SwitchboardTestSupport
import Testing

/// The content header (§4.2.6.1): property flags, one bit per present property from bit 15 down, and
/// only the flagged properties on the wire.
@Suite struct AMQPBasicPropertiesTests {
    typealias B = AMQPBytes
    static let limits = AMQPLimits()

    @Test func eachPropertyHasItsFlag() {
        let cases: [(AMQPBasicProperties, UInt16)] = [
            (AMQPBasicProperties(), 0),
            (AMQPBasicProperties(contentType: "a"), 0x8000),
            (AMQPBasicProperties(contentEncoding: "a"), 0x4000),
            (AMQPBasicProperties(headers: [:]), 0x2000),
            (AMQPBasicProperties(deliveryMode: 2), 0x1000),
            (AMQPBasicProperties(priority: 1), 0x0800),
            (AMQPBasicProperties(correlationID: "a"), 0x0400),
            (AMQPBasicProperties(replyTo: "a"), 0x0200),
            (AMQPBasicProperties(expiration: "1"), 0x0100),
            (AMQPBasicProperties(messageID: "a"), 0x0080),
            (AMQPBasicProperties(timestamp: 1), 0x0040),
            (AMQPBasicProperties(type: "a"), 0x0020),
            (AMQPBasicProperties(userID: "a"), 0x0010),
            (AMQPBasicProperties(appID: "a"), 0x0008),
            (AMQPBasicProperties(clusterID: "a"), 0x0004),
        ]
        for (properties, flags) in cases { #expect(properties.flags == flags) }
    }

    @Test func deliveryModeOnlyGolden() throws {
        // class 60, weight 0, body size 5, flags 0x1000, delivery-mode 2.
        let payload = B.u16(60) + B.u16(0) + B.u64(5) + B.u16(0x1000) + [2]
        let header = AMQPContentHeader(bodySize: 5, properties: AMQPBasicProperties(deliveryMode: 2))
        var encoded = ByteBuffer()
        header.write(to: &encoded)
        #expect(Array(encoded.readableBytesView) == payload)
        #expect(try AMQPContentHeader.decode(ByteBuffer(bytes: payload), limits: Self.limits) == header)
    }

    @Test func propertiesAreWrittenInFlagOrder() throws {
        let properties = AMQPBasicProperties(
            contentType: "application/json", headers: ["h": .int32(1)], priority: 4, replyTo: "amq.rabbitmq.reply-to",
            timestamp: 9, appID: "app")
        let payload =
            B.u16(60) + B.u16(0) + B.u64(0) + B.u16(0x8000 | 0x2000 | 0x0800 | 0x0200 | 0x0040 | 0x0008)
            + B.ss("application/json") + B.table(B.ss("h") + [0x49] + B.u32(1)) + [4] + B.ss("amq.rabbitmq.reply-to")
            + B.u64(9) + B.ss("app")
        var encoded = ByteBuffer()
        AMQPContentHeader(bodySize: 0, properties: properties).write(to: &encoded)
        #expect(Array(encoded.readableBytesView) == payload)
        #expect(
            try AMQPContentHeader.decode(ByteBuffer(bytes: payload), limits: Self.limits).properties == properties)
    }

    @Test func continuationWordsThatFlagNothingAreAccepted() throws {
        // Flags with the continuation bit, then a word with none: still only delivery-mode.
        let payload = B.u16(60) + B.u16(0) + B.u64(1) + B.u16(0x1001) + B.u16(0) + [1]
        let header = try AMQPContentHeader.decode(ByteBuffer(bytes: payload), limits: Self.limits)
        #expect(header.properties == AMQPBasicProperties(deliveryMode: 1))
    }

    @Test func malformedHeaders() {
        // A continuation word flagging a property basic does not have.
        let undefined = B.u16(60) + B.u16(0) + B.u64(1) + B.u16(0x0001) + B.u16(0x8000)
        #expect(throws: AMQPError.malformed("property flag for an undefined property")) {
            try AMQPContentHeader.decode(ByteBuffer(bytes: undefined), limits: Self.limits)
        }
        // Bit 1 is no property either.
        let bitOne = B.u16(60) + B.u16(0) + B.u64(1) + B.u16(0x0002)
        #expect(throws: AMQPError.malformed("property flag for an undefined property")) {
            try AMQPContentHeader.decode(ByteBuffer(bytes: bitOne), limits: Self.limits)
        }
        // A flagged property that is not there.
        let missing = B.u16(60) + B.u16(0) + B.u64(1) + B.u16(0x8000)
        #expect(throws: AMQPError.malformed("truncated octet")) {
            try AMQPContentHeader.decode(ByteBuffer(bytes: missing), limits: Self.limits)
        }
        let trailing = B.u16(60) + B.u16(0) + B.u64(1) + B.u16(0) + [0]
        #expect(throws: AMQPError.malformed("bytes after the content header's properties")) {
            try AMQPContentHeader.decode(ByteBuffer(bytes: trailing), limits: Self.limits)
        }
    }

    static func randomString(using random: inout SplitMix) -> String? {
        guard Bool.random(using: &random) else { return nil }
        return String(
            (0..<Int.random(in: 0...12, using: &random)).map { _ in "aé.-_/1".randomElement(using: &random)! })
    }

    @Test func randomPropertiesRoundTrip() throws {
        var random = SplitMix(state: 0x5EED)
        for _ in 0..<500 {
            var properties = AMQPBasicProperties()
            properties.contentType = Self.randomString(using: &random)
            properties.contentEncoding = Self.randomString(using: &random)
            if Bool.random(using: &random) {
                properties.headers = AMQPFieldTableTests.randomTable(depth: 3, using: &random)
            }
            properties.deliveryMode = Bool.random(using: &random) ? UInt8.random(in: 1...2, using: &random) : nil
            properties.priority = Bool.random(using: &random) ? UInt8.random(in: 0...9, using: &random) : nil
            properties.correlationID = Self.randomString(using: &random)
            properties.replyTo = Self.randomString(using: &random)
            properties.expiration = Self.randomString(using: &random)
            properties.messageID = Self.randomString(using: &random)
            properties.timestamp = Bool.random(using: &random) ? random.next() : nil
            properties.type = Self.randomString(using: &random)
            properties.userID = Self.randomString(using: &random)
            properties.appID = Self.randomString(using: &random)
            properties.clusterID = Self.randomString(using: &random)
            let header = AMQPContentHeader(bodySize: random.next() >> 1, properties: properties)
            var buffer = ByteBuffer()
            header.write(to: &buffer)
            #expect(try AMQPContentHeader.decode(buffer, limits: Self.limits) == header)
        }
    }
}
