import FrontendKit
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// RFC 7692 §5 and §7.1: which permessage-deflate offers are accepted and what the server answers.
@Suite struct WebSocketDeflateNegotiationTests {
    static let noContextTakeover = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

    func accept(_ values: String...) -> WebSocketDeflateParameters? {
        var headers = HTTPHeaders()
        for value in values { headers.add(name: "Sec-WebSocket-Extensions", value: value) }
        return WebSocketDeflateNegotiation.accept(headers)
    }

    @Test func noOfferNoExtension() {
        #expect(accept() == nil)
        #expect(accept("x-webkit-deflate-frame") == nil)
    }

    /// Both directions are answered without context takeover even when the offer does not ask for it
    /// (§7.1.1.1, §7.1.1.2 allow it): that is what lets a compressed frame be shared.
    @Test func aPlainOfferIsAnsweredWithoutContextTakeover() {
        let parameters = accept("permessage-deflate")
        #expect(parameters?.serverMaxWindowBits == 15)
        #expect(parameters?.response == Self.noContextTakeover)
    }

    /// What browsers send (Chrome, Firefox) and what Python's `websockets` sends.
    @Test func theBrowsersOfferIsAccepted() {
        #expect(accept("permessage-deflate; client_max_window_bits")?.response == Self.noContextTakeover)
        #expect(accept("permessage-deflate; client_max_window_bits=12")?.response == Self.noContextTakeover)
    }

    /// §7.1.2.1: server_max_window_bits is honoured and answered with the same value, quoted or not.
    @Test(arguments: ["8", "10", "15", "\"9\""])
    func serverMaxWindowBitsIsHonoured(value: String) {
        let parameters = accept("permessage-deflate; server_max_window_bits=\(value)")
        let bits = Int(value.filter(\.isNumber))!
        #expect(parameters?.serverMaxWindowBits == bits)
        #expect(parameters?.response == Self.noContextTakeover + "; server_max_window_bits=\(bits)")
    }

    /// §7.1: an offer with an unknown or repeated parameter, or an invalid value, is declined.
    @Test(arguments: [
        "permessage-deflate; server_max_window_bits", "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16", "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=1x", "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; mystery",
    ])
    func invalidOffersAreDeclined(offer: String) {
        #expect(accept(offer) == nil)
    }

    /// §5: the first acceptable offer wins; the others are alternatives in order of preference.
    @Test func theFirstAcceptableOfferWins() {
        let parameters = accept(
            "permessage-deflate; mystery, permessage-deflate; server_max_window_bits=10, permessage-deflate")
        #expect(parameters?.serverMaxWindowBits == 10)
        #expect(accept("foo; a=1", "PerMessage-Deflate ;  Server_Max_Window_Bits = 12 ")?.serverMaxWindowBits == 12)
    }

    @Test func offersAreParsedAcrossHeadersAndQuotes() {
        let offers = WebSocketDeflateNegotiation.offers(["a; x=\"1,2\", b", "c;y"])
        #expect(offers.map(\.name) == ["a", "b", "c"])
        #expect(offers[0].parameters.first?.value == "1,2")
        #expect(offers[2].parameters.first?.name == "y" && offers[2].parameters.first?.value == nil)
    }

    /// The upgrade's answer carries the extension only for an endpoint that offers compression.
    @Test func theUpgradeAnswersForEndpointsThatOfferCompression() throws {
        let channel = EmbeddedChannel()
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/echo")
        head.headers.add(name: "Sec-WebSocket-Version", value: "13")
        head.headers.add(name: "Sec-WebSocket-Key", value: "dGhlIHNhbXBsZSBub25jZQ==")
        head.headers.add(name: "Sec-WebSocket-Extensions", value: "permessage-deflate; client_max_window_bits")
        let echo = WebSocketUpgrader(endpoints: [WebSocketEchoEndpoint(path: "/echo", maxFrameSize: 1024)])
        let answer = try echo.buildUpgradeResponse(channel: channel, upgradeRequest: head, initialResponseHeaders: [:])
            .wait()
        #expect(answer["Sec-WebSocket-Extensions"] == [Self.noContextTakeover])
        let plain = WebSocketUpgrader(endpoints: [PlainEndpoint()])
        let plainAnswer = try plain.buildUpgradeResponse(
            channel: channel, upgradeRequest: head, initialResponseHeaders: [:]
        ).wait()
        #expect(plainAnswer["Sec-WebSocket-Extensions"].isEmpty)
    }
}

/// An endpoint that does not offer compression (the protocol's default).
private struct PlainEndpoint: WebSocketEndpoint {
    let path = "/echo"
    let maxFrameSize = 1024
    func negotiate(_ head: HTTPRequestHead, remoteAddress: SocketAddress?) -> WebSocketNegotiation { .accept([:]) }
    func configure(_ channel: any Channel, head: HTTPRequestHead) throws {}
    func recordRefusal() {}
}
