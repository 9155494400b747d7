import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import NIOWebSocket
import SignalRWire
import SwitchboardTestSupport
import Testing

@testable import SignalRFrontend

/// The hub connection on an EmbeddedChannel: WebSocket frames in, frames out, the bus on the same loop.
@Suite struct SignalRConnectionHandlerTests {
    let harness: EmbeddedBusHarness
    let channel: EmbeddedChannel
    let mask = WebSocketMaskingKey([1, 2, 3, 4])!

    init() throws {
        harness = EmbeddedBusHarness(
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 10))
                ])))
        let services = SignalRServices(
            configuration: SignalRConfiguration(), bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]))
        channel = try harness.connectedChannel([])
        try channel.pipeline.syncOperations.addHandler(WebSocketClientFrameValidator(maxMessageBytes: 64 * 1024))
        try channel.pipeline.syncOperations.addHandler(
            SignalRConnectionHandler(services: services, connectionID: nil, credentials: ClientCredentials()))
    }

    func send(_ bytes: ByteBuffer, opcode: WebSocketOpcode = .text) throws {
        var masked = bytes
        masked.webSocketMask(mask)
        try channel.receiveRead(WebSocketFrame(fin: true, opcode: opcode, maskKey: mask, data: masked))
        channel.pipeline.fireChannelReadComplete()
    }

    func send(_ text: String) throws { try send(ByteBuffer(string: text)) }

    /// Every frame written since the last call, as (opcode, payload).
    func received() throws -> [(UInt8, ByteBuffer)] {
        var frames: [(UInt8, ByteBuffer)] = []
        for var buffer in try channel.writtenBuffers() {
            while buffer.readableBytes > 0 {
                let first = buffer.readInteger(as: UInt8.self)!
                var length = Int(buffer.readInteger(as: UInt8.self)! & 0x7F)
                if length == 126 { length = Int(buffer.readInteger(as: UInt16.self)!) }
                frames.append((first & 0x0F, buffer.readSlice(length: length)!))
            }
        }
        return frames
    }

    /// The JSON messages of the text frames written since the last call.
    func messages() throws -> [String] {
        try received().filter { $0.0 == 1 }.flatMap { frame in
            String(buffer: frame.1).split(separator: "\u{1e}").map(String.init)
        }
    }

    @Test func handshakeThenSubscribePublishAndReceive() throws {
        try send("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        #expect(try messages() == ["{}"])
        try send(#"{"type":1,"invocationId":"1","target":"subscribe","arguments":["chat/a"]}"# + "\u{1e}")
        #expect(try messages() == [#"{"type":3,"invocationId":"1"}"#])
        try send(#"{"type":1,"invocationId":"2","target":"Publish","arguments":["chat/a",{"n":1}]}"# + "\u{1e}")
        harness.loop.run()
        let out = try messages()
        #expect(out.contains { $0.hasPrefix(#"{"type":3,"invocationId":"2","result":{"offset":1,"epoch":"#) })
        #expect(
            out.contains {
                $0.hasPrefix(
                    #"{"type":1,"target":"Receive","arguments":[{"type":"message","channel":"chat/a","data":{"n":1}"#)
            })
    }

    @Test func severalMessagesInOneFrameAndOneAcrossFrames() throws {
        try send("{\"protocol\":\"json\",\"version\":1}\u{1e}{\"type\":6}\u{1e}{\"type\":1,\"invocationId\":\"9\",")
        try send(#""target":"Nope","arguments":[]}"# + "\u{1e}")
        #expect(try messages() == ["{}", #"{"type":3,"invocationId":"9","error":"Unknown hub method 'Nope'"}"#])
    }

    @Test func unknownProtocolIsRefusedInTheHandshakeResponse() throws {
        try send("{\"protocol\":\"xml\",\"version\":1}\u{1e}")
        harness.loop.run()
        let frames = try received()
        #expect(String(buffer: frames[0].1) == "{\"error\":\"The protocol 'xml' is not supported.\"}\u{1e}")
        #expect(frames.last?.0 == 0x8)
    }

    @Test func malformedMessageClosesWithAnError() throws {
        try send("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        _ = try received()
        try send("{\"type\":1,\"target\":42}\u{1e}")
        harness.loop.run()
        let frames = try received()
        #expect(String(buffer: frames[0].1).hasPrefix(#"{"type":7,"error":"#))
        #expect(frames.last?.0 == 0x8)
    }

    @Test func messagePackConnectionsGetBinaryFrames() throws {
        try send("{\"protocol\":\"messagepack\",\"version\":1}\u{1e}")
        #expect(try messages() == ["{}"])
        var invocation = ByteBuffer()
        SignalRHubMessage.invocation(
            SignalRInvocation(invocationID: "1", target: "Subscribe", arguments: [.messagePack(.string("chat/b"))])
        ).writeMessagePack(into: &invocation)
        try send(invocation, opcode: .binary)
        let frames = try received()
        #expect(frames.count == 1 && frames[0].0 == 2)
        var body = frames[0].1
        let prefix = try SignalRBinaryFrameDecoder.lengthPrefix(of: body)!
        body.moveReaderIndex(forwardBy: prefix.bytes)
        #expect(
            try SignalRHubMessage.decodeMessagePack(body)
                == .completion(SignalRCompletion(invocationID: "1", outcome: .void)))
    }
}
