import NIOCore
import SignalRWire
import Testing

/// The handshake (HubProtocol.md §Overview): always JSON and ended by the record separator, whatever
/// protocol it asks for; the response `{}` or `{"error":…}` with ASP.NET Core's refusal texts.
@Suite struct SignalRHandshakeTests {
    private func request(_ text: String) throws -> SignalRHandshakeRequest {
        try SignalRHandshakeRequest.decode(ByteBuffer(string: text))
    }

    @Test func decodesTheSpecExample() throws {
        // The spec's example, as written there, arriving with the first MessagePack message right
        // behind its separator: the text framing stops at the separator and leaves those bytes.
        var buffer = ByteBuffer(string: "{\n    \"protocol\": \"messagepack\",\n    \"version\": 1\n}\u{1e}")
        buffer.writeBytes([0x02, 0x91, 0x06])
        var decoder = SignalRTextFrameDecoder()
        let message = try #require(try decoder.next(&buffer))
        let handshake = try SignalRHandshakeRequest.decode(message)
        #expect(handshake == SignalRHandshakeRequest(protocolName: "messagepack", version: 1))
        #expect(try handshake.selectProtocol() == .messagePack)
        #expect(Array(buffer.readableBytesView) == [0x02, 0x91, 0x06])
        #expect(try SignalRBinaryFrameDecoder().next(&buffer) == ByteBuffer(bytes: [0x91, 0x06]))
    }

    @Test func selectsJSONAndIgnoresCaseAndOtherMembers() throws {
        #expect(try request("{\"protocol\":\"json\",\"version\":1}").selectProtocol() == .json)
        #expect(try request("{\"version\":1,\"extra\":[1],\"protocol\":\"JSON\"}").selectProtocol() == .json)
        #expect(try request("{\"protocol\":\"json\",\"version\":1}").selectProtocol(transportIsBinary: false) == .json)
    }

    /// ASP.NET Core accepts any version up to its own (`IsVersionSupported`); signalrcore asks for 0.
    @Test func acceptsVersionZero() throws {
        #expect(try request("{\"protocol\":\"json\",\"version\":0}").selectProtocol() == .json)
        #expect(try request("{\"protocol\":\"messagepack\",\"version\":0}").selectProtocol() == .messagePack)
    }

    @Test func refusesWithASPNETCoresTexts() throws {
        let cases: [(String, Bool, String)] = [
            ("{\"protocol\":\"xml\",\"version\":1}", true, "The protocol 'xml' is not supported."),
            (
                "{\"protocol\":\"json\",\"version\":2}", true,
                "The server does not support version 2 of the 'json' protocol."
            ),
            (
                "{\"protocol\":\"messagepack\",\"version\":1}", false,
                "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format."
            ),
        ]
        for (text, binary, message) in cases {
            #expect(throws: SignalRWireError.unsupportedProtocol(message)) {
                try request(text).selectProtocol(transportIsBinary: binary)
            }
        }
    }

    @Test func refusesMalformedRequests() {
        for text in [
            "", "[]", "{\"version\":1}", "{\"protocol\":\"json\"}", "{\"protocol\":1,\"version\":1}",
            "{\"protocol\":\"json\",\"version\":\"1\"}", "{\"protocol\":\"json\",\"version\":1.5}",
            "{\"protocol\":null,\"version\":1}", "{\"protocol\":\"json\",\"version\":1", "\u{91}\u{06}",
        ] {
            #expect(throws: SignalRWireError.self, "\(text)") { try request(text) }
        }
        #expect(throws: SignalRWireError.invalidHandshake("Missing required property 'protocol'.")) {
            try request("{\"version\":1}")
        }
    }

    @Test func writesTheResponse() {
        var accepted = ByteBuffer()
        SignalRHandshakeResponse.write(into: &accepted)
        #expect(String(buffer: accepted) == "{}\u{1e}")
        // The spec's example of a refusal.
        var refused = ByteBuffer()
        SignalRHandshakeResponse.write(error: "Requested protocol 'messagepack' is not available.", into: &refused)
        #expect(String(buffer: refused) == "{\"error\":\"Requested protocol 'messagepack' is not available.\"}\u{1e}")
    }
}
