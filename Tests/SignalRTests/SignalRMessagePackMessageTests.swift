import NIOCore
import SignalRWire
import Testing

/// Hub messages in MessagePack (HubProtocol.md §MessagePack (MsgPack) encoding): every byte dump of the
/// spec decodes to its message and the message encodes to the same bytes (but for the two that spell a
/// small integer as uint 8, where the encoder's smallest form is one byte shorter); the older and longer
/// layouts; the errors of ASP.NET Core's reader.
@Suite struct SignalRMessagePackMessageTests {
    private func decode(_ bytes: [UInt8], limits: SignalRLimits = SignalRLimits()) throws -> SignalRHubMessage {
        try SignalRHubMessage.decodeMessagePack(ByteBuffer(bytes: bytes), limits: limits)
    }

    private func encode(_ message: SignalRHubMessage) -> [UInt8] {
        var buffer = ByteBuffer()
        message.writeMessagePackArray(into: &buffer)
        return Array(buffer.readableBytesView)
    }

    static let xyz: [UInt8] = [0xA3, 0x78, 0x79, 0x7A]
    static let method: [UInt8] = [0xA6, 0x6D, 0x65, 0x74, 0x68, 0x6F, 0x64]

    static let examples: [(String, [UInt8], SignalRHubMessage)] = [
        (
            "Invocation", bytes([0x96, 0x01, 0x80], xyz, method, [0x91, 0x2A, 0x90]),
            .invocation(SignalRInvocation(invocationID: "xyz", target: "method", arguments: [.messagePack(.int(42))]))
        ),
        (
            "Invocation, non-blocking", bytes([0x96, 0x01, 0x80, 0xC0], method, [0x91, 0x2A, 0x90]),
            .invocation(SignalRInvocation(invocationID: nil, target: "method", arguments: [.messagePack(.int(42))]))
        ),
        (
            "StreamInvocation", bytes([0x96, 0x04, 0x80], xyz, method, [0x91, 0x2A, 0x90]),
            .streamInvocation(
                SignalRStreamInvocation(invocationID: "xyz", target: "method", arguments: [.messagePack(.int(42))]))
        ),
        (
            "StreamItem", bytes([0x94, 0x02, 0x80], xyz, [0x2A]),
            .streamItem(SignalRStreamItem(invocationID: "xyz", item: .messagePack(.int(42))))
        ),
        (
            "Completion, error", bytes([0x95, 0x03, 0x80], xyz, [0x01, 0xA5, 0x45, 0x72, 0x72, 0x6F, 0x72]),
            .completion(SignalRCompletion(invocationID: "xyz", outcome: .error("Error")))
        ),
        (
            "Completion, void", bytes([0x94, 0x03, 0x80], xyz, [0x02]),
            .completion(SignalRCompletion(invocationID: "xyz", outcome: .void))
        ),
        (
            "Completion, non-void", bytes([0x95, 0x03, 0x80], xyz, [0x03, 0x2A]),
            .completion(SignalRCompletion(invocationID: "xyz", outcome: .result(.messagePack(.int(42)))))
        ),
        (
            "CancelInvocation", bytes([0x93, 0x05, 0x80], xyz),
            .cancelInvocation(SignalRCancelInvocation(invocationID: "xyz"))
        ),
        ("Ping", [0x91, 0x06], .ping),
        ("Close", bytes([0x92, 0x07], xyz), .close(SignalRClose(error: "xyz"))),
        (
            "Close, allowReconnect", bytes([0x93, 0x07], xyz, [0xC3]),
            .close(SignalRClose(error: "xyz", allowReconnect: true))
        ),
        (
            "Headers",
            bytes(
                [0x96, 0x01, 0x82, 0xA1, 0x78, 0xA1, 0x79, 0xA1, 0x7A, 0xA1, 0x7A], xyz, method, [0x91, 0x2A, 0x90]),
            .invocation(
                SignalRInvocation(
                    headers: [SignalRHeader(name: "x", value: "y"), SignalRHeader(name: "z", value: "z")],
                    invocationID: "xyz", target: "method", arguments: [.messagePack(.int(42))]))
        ),
    ]

    @Test func decodesAndEncodesEveryExampleOfTheSpec() throws {
        for (name, bytes, message) in Self.examples {
            #expect(try decode(bytes) == message, "\(name)")
            #expect(encode(message) == bytes, "\(name)")
        }
    }

    @Test func ackAndSequenceAcceptAnyIntegerFormat() throws {
        // The spec's dumps use uint 8 ("any unsigned int size is fine"); the encoder writes a fixint.
        #expect(try decode([0x92, 0x08, 0xCC, 0x24]) == .ack(sequenceID: 36))
        #expect(try decode([0x92, 0x09, 0xCC, 0x13]) == .sequence(sequenceID: 19))
        #expect(encode(.ack(sequenceID: 36)) == [0x92, 0x08, 0x24])
        #expect(encode(.sequence(sequenceID: 19)) == [0x92, 0x09, 0x13])
        #expect(encode(.ack(sequenceID: 1394)) == [0x92, 0x08, 0xCD, 0x05, 0x72])
    }

    @Test func writeMessagePackPrefixesTheLength() {
        var buffer = ByteBuffer()
        SignalRHubMessage.ping.writeMessagePack(into: &buffer)
        SignalRHubMessage.close(SignalRClose()).writeMessagePack(into: &buffer)
        #expect(Array(buffer.readableBytesView) == [0x02, 0x91, 0x06, 0x03, 0x92, 0x07, 0xC0])
    }

    @Test func olderAndLongerLayouts() throws {
        // Clients before upload streaming send invocations of 5 items.
        #expect(
            try decode(bytes([0x95, 0x01, 0x80], Self.xyz, Self.method, [0x90]))
                == .invocation(SignalRInvocation(invocationID: "xyz", target: "method", arguments: [])))
        // Stream ids as nil are none.
        #expect(
            try decode(bytes([0x96, 0x01, 0x80], Self.xyz, Self.method, [0x90, 0xC0]))
                == .invocation(SignalRInvocation(invocationID: "xyz", target: "method", arguments: [])))
        // Items a later version appends are ignored.
        #expect(
            try decode(bytes([0x94, 0x05, 0x80], Self.xyz, [0xC3]))
                == .cancelInvocation(SignalRCancelInvocation(invocationID: "xyz")))
        #expect(try decode([0x93, 0x06, 0x80, 0x80]) == .ping)
        // A Close without error is nil; ASP.NET Core writes allowReconnect false as a third item.
        #expect(try decode([0x93, 0x07, 0xC0, 0xC2]) == .close(SignalRClose()))
        // An empty invocation id is none; stream ids are read.
        #expect(
            try decode(bytes([0x96, 0x01, 0x80, 0xA0], Self.method, [0x90, 0x92, 0xA1, 0x31, 0xA1, 0x32]))
                == .invocation(
                    SignalRInvocation(invocationID: nil, target: "method", arguments: [], streamIDs: ["1", "2"])))
        // Unknown types are left to the caller, whatever follows.
        #expect(try decode([0x93, 0x0A, 0xC0, 0x81, 0x01, 0x02]) == .unknown(type: 10))
    }

    @Test func protocolErrors() {
        let cases: [[UInt8]] = [
            [0xC0],  // not an array
            [0x90],  // no type
            [0x91, 0xA1, 0x31],  // type a str
            bytes([0x94, 0x01, 0x80], Self.xyz),  // Invocation of 4 items
            bytes([0x96, 0x01, 0x80, 0x01], Self.method, [0x90, 0x90]),  // invocation id an int
            [0x96, 0x01, 0x80, 0xC0, 0xA0, 0x90, 0x90],  // empty target
            bytes([0x96, 0x01, 0x80, 0xC0], Self.method, [0x80, 0x90]),  // arguments a map
            bytes([0x96, 0x01, 0x80, 0xC0], Self.method, [0x90, 0x91, 0x01]),  // a stream id an int
            bytes([0x96, 0x01, 0x80, 0xC0], Self.method, [0x90, 0x91, 0xA0]),  // an empty stream id
            bytes([0x96, 0x04, 0x80, 0xC0], Self.method, [0x90, 0x90]),  // StreamInvocation without id
            bytes([0x93, 0x02, 0x80], Self.xyz),  // StreamItem without item
            bytes([0x94, 0x03, 0x80], Self.xyz, [0x04]),  // result kind 4
            bytes([0x94, 0x03, 0x80], Self.xyz, [0x01]),  // error kind without the error
            bytes([0x95, 0x03, 0x80], Self.xyz, [0x01, 0x2A]),  // error not a str
            bytes([0x94, 0x03, 0x80], Self.xyz, [0x03]),  // non-void kind without the result
            bytes([0x93, 0x05, 0x90], Self.xyz),  // headers an array
            bytes([0x93, 0x05, 0x81, 0xA1, 0x78, 0x01], Self.xyz),  // a header value an int
            [0x91, 0x07],  // Close without its error item
            [0x93, 0x07, 0xC0, 0x01],  // allowReconnect an int
            [0x92, 0x08, 0xA1, 0x31],  // sequence id a str
            [0x92, 0x08, 0xCF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],  // sequence id over Int64
            [0x91, 0x06, 0xC0],  // a byte after the message
            [0x92, 0x06],  // cut short
        ]
        for bytes in cases {
            #expect(throws: SignalRWireError.self, "\(bytes)") { try decode(bytes) }
        }
        #expect(throws: SignalRWireError.invalidMessage("Invalid invocation result kind.")) {
            try decode(bytes([0x94, 0x03, 0x80], Self.xyz, [0x04]))
        }
    }

    @Test func idsAreBounded() {
        var limits = SignalRLimits()
        limits.maxInvocationIDBytes = 2
        #expect(throws: SignalRWireError.self) { try decode(bytes([0x93, 0x05, 0x80], Self.xyz), limits: limits) }
        limits.maxInvocationIDBytes = 3
        #expect(throws: Never.self) { try decode(bytes([0x93, 0x05, 0x80], Self.xyz), limits: limits) }
    }

    /// `PublishStream()` items name their channel: a member of a JSON object or a MessagePack map.
    @Test func objectPayloadsHandOutTheirMembers() {
        let json = SignalRPayload.json(#"{"channel":"a/b","data":{"n":[1,2]},"channel2":1}"#)
        #expect(json.member("channel") == .json(#""a/b""#))
        #expect(json.member("data") == .json(#"{"n":[1,2]}"#))
        #expect(json.member("event") == nil)
        #expect(SignalRPayload.json("[1]").member("channel") == nil)
        #expect(SignalRPayload.json(#""{""#).member("channel") == nil)
        let map = SignalRPayload.messagePack(
            .map([(key: .string("channel"), value: .string("a/b")), (key: .int(1), value: .nil)]))
        #expect(map.member("channel") == .messagePack(.string("a/b")))
        #expect(map.member("data") == nil)
        #expect(SignalRPayload.messagePack(.array([])).member("channel") == nil)
    }

    @Test func payloadsCrossEncodingsByTheTypeMapping() throws {
        // A JSON argument written in MessagePack: integers that fit stay integers, other numbers floats.
        let fromJSON = SignalRHubMessage.invocation(
            SignalRInvocation(
                invocationID: "1", target: "T",
                arguments: [.json(#"[1,-2,2.5,"é",{"k":true},null,18446744073709551615,1e400]"#)]))
        var binary = ByteBuffer()
        fromJSON.writeMessagePackArray(into: &binary)
        guard case .invocation(let invocation) = try SignalRHubMessage.decodeMessagePack(binary) else {
            Issue.record("not an invocation")
            return
        }
        #expect(
            invocation.arguments == [
                .messagePack(
                    .array([
                        .int(1), .int(-2), .double(2.5), .string("é"), .map([(.string("k"), .bool(true))]), .nil,
                        .uint(.max), .double(.infinity),
                    ]))
            ])
        // A MessagePack argument written in JSON: bin as base64, timestamps as ISO 8601, other ext as
        // base64, non-string keys as their JSON text, NaN as null.
        let fromMessagePack = SignalRHubMessage.streamItem(
            SignalRStreamItem(
                invocationID: "1",
                item: .messagePack(
                    .array([
                        .binary(ByteBuffer(bytes: [1, 2, 3])),
                        MessagePackTimestamp(seconds: 0, nanoseconds: 5_000_000).value,
                        .ext(type: 3, data: ByteBuffer(bytes: [0xFF])), .map([(.int(1), .float(0.5))]), .double(.nan),
                        .uint(.max),
                    ]))))
        var text = ByteBuffer()
        fromMessagePack.writeJSONObject(into: &text)
        #expect(
            String(buffer: text)
                == #"{"type":2,"invocationId":"1","item":["AQID","1970-01-01T00:00:00.005Z","/w==",{"1":0.5},null,18446744073709551615]}"#
        )
    }
}
