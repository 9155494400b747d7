import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import NIOWebSocket
import SwitchboardTestSupport
import Testing

@testable import NativeWebSocketFrontend

/// `/ws` with permessage-deflate negotiated (RFC 7692), on an EmbeddedChannel: a compressed request is
/// inflated and handled; large replies and pushes leave compressed (RSV1), small ones plain.
@Suite struct NativeWSCompressionTests {
    let harness: EmbeddedBusHarness
    let channel: EmbeddedChannel
    let mask = WebSocketMaskingKey([1, 2, 3, 4])!
    let codec = WebSocketDeflateCodec.current

    init() throws {
        harness = EmbeddedBusHarness()
        var configuration = NativeWSConfiguration()
        configuration.compression = true
        let services = NativeWSServices(
            shared: FrontendShared(
                metricsName: "websocket", bus: harness.bus, connections: harness.connections,
                authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:])),
            configuration: configuration)
        let deflate = WebSocketDeflateParameters()
        channel = try harness.connectedChannel([])
        try channel.pipeline.syncOperations.addHandler(
            WebSocketClientFrameValidator(maxMessageBytes: 65_536, deflate: deflate))
        try channel.pipeline.syncOperations.addHandler(NativeWSConnectionHandler(services: services, deflate: deflate))
    }

    /// Sends `text` as one compressed, masked text frame.
    func sendCompressed(_ text: String) throws {
        var payload = try codec.compress(
            ByteBuffer(string: text), windowBits: 15, level: 6, headroom: 0, allocator: ByteBufferAllocator())
        payload.webSocketMask(mask)
        try channel.writeInbound(WebSocketFrame(fin: true, rsv1: true, opcode: .text, maskKey: mask, data: payload))
    }

    /// Every text message written since the last call, inflated when RSV1 is set: (compressed, text).
    func messages() throws -> [(compressed: Bool, text: String)] {
        var messages: [(Bool, String)] = []
        for var buffer in try channel.writtenBuffers() {
            while buffer.readableBytes > 0 {
                let first = buffer.readInteger(as: UInt8.self)!
                var length = Int(buffer.readInteger(as: UInt8.self)! & 0x7F)
                if length == 126 {
                    length = Int(buffer.readInteger(as: UInt16.self)!)
                } else if length == 127 {
                    length = Int(buffer.readInteger(as: UInt64.self)!)
                }
                var payload = buffer.readSlice(length: length)!
                #expect(first & 0x80 != 0)  // FIN
                guard first & 0x0F == 1 else { continue }
                let compressed = first & 0x40 != 0
                if compressed {
                    payload = try codec.decompress(payload, maxBytes: 1 << 20, allocator: ByteBufferAllocator())
                }
                messages.append((compressed, String(buffer: payload)))
            }
        }
        return messages
    }

    @Test func aCompressedRequestIsHandledAndABigPushLeavesCompressed() throws {
        try sendCompressed(#"{"id":1,"type":"subscribe","channel":"news/a"}"#)
        let subscribed = try messages()
        // A short reply is not worth compressing.
        #expect(subscribed.map(\.compressed) == [false])
        #expect(subscribed.first?.text == #"{"id":1,"type":"subscribed","channel":"news/a","messages":[]}"#)

        let text = String(repeating: "all work and no play ", count: 20)
        try sendCompressed(#"{"id":2,"type":"publish","channel":"news/a","data":"\#(text)"}"#)
        let frames = try messages()
        let push = frames.first { $0.text.hasPrefix(#"{"type":"message""#) }
        #expect(push?.compressed == true)
        #expect(push?.text == #"{"type":"message","channel":"news/a","data":"\#(text)"}"#)
        #expect(frames.contains { $0.text == #"{"id":2,"type":"published"}"# && !$0.compressed })
    }

    /// A large reply (an error naming a long channel) is compressed too.
    @Test func aBigReplyLeavesCompressed() throws {
        let channelName = String(repeating: "x", count: 300)
        try sendCompressed(#"{"id":3,"type":"unsubscribe","channel":"\#(channelName)"}"#)
        let replies = try messages()
        #expect(replies.count == 1 && replies[0].compressed)
        #expect(replies[0].text.contains("not subscribed to \(channelName)"))
    }
}
