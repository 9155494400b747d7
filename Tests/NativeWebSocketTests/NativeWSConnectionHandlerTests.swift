import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import NIOWebSocket
import SwitchboardTestSupport
import Testing

@testable import NativeWebSocketFrontend

/// The handler on an EmbeddedChannel: frames in, frames out, the bus on the same embedded loop.
@Suite struct NativeWSConnectionHandlerTests {
    let harness: EmbeddedBusHarness
    let channel: EmbeddedChannel
    var bus: Bus { harness.bus }
    var connections: ConnectionRegistry { harness.connections }

    init(payloadSchemas: PayloadSchemas = .none) throws {
        var busConfiguration = BusConfiguration(
            history: HistoryPolicy(rules: [
                .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 10))
            ]))
        busConfiguration.payloadSchemas = payloadSchemas
        harness = EmbeddedBusHarness(configuration: busConfiguration)
        var configuration = NativeWSConfiguration()
        configuration.maxSubscriptions = 2
        let services = NativeWSServices(
            shared: FrontendShared(
                metricsName: "websocket", bus: harness.bus, connections: harness.connections,
                authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: ["t": "alice"])),
            configuration: configuration)
        // Connected first, then the handlers: as after an upgrade, they join an active channel.
        channel = try harness.connectedChannel([])
        try channel.pipeline.syncOperations.addHandler(WebSocketClientFrameValidator(maxMessageBytes: 1024))
        try channel.pipeline.syncOperations.addHandler(NativeWSConnectionHandler(services: services))
    }

    /// A client frame: masked as RFC 6455 §5.3 requires.
    func clientFrame(_ opcode: WebSocketOpcode, _ payload: ByteBuffer, rsv1: Bool = false) -> WebSocketFrame {
        var masked = payload
        masked.webSocketMask(mask)
        return WebSocketFrame(fin: true, rsv1: rsv1, opcode: opcode, maskKey: mask, data: masked)
    }

    func send(_ text: String, opcode: WebSocketOpcode = .text) throws {
        try channel.receiveRead(clientFrame(opcode, ByteBuffer(string: text)))
    }

    /// Every frame written since the last call, as (opcode, payload bytes).
    func received() throws -> [(UInt8, [UInt8])] {
        frames(in: try channel.writtenBuffers())
    }

    /// The frames in `buffers`, as (opcode, payload bytes).
    func frames(in buffers: [ByteBuffer]) -> [(UInt8, [UInt8])] {
        var frames: [(UInt8, [UInt8])] = []
        for var buffer in buffers {
            while buffer.readableBytes > 0 {
                let first = buffer.readInteger(as: UInt8.self)!
                var length = Int(buffer.readInteger(as: UInt8.self)! & 0x7F)
                if length == 126 {
                    length = Int(buffer.readInteger(as: UInt16.self)!)
                } else if length == 127 {
                    length = Int(buffer.readInteger(as: UInt64.self)!)
                }
                frames.append((first & 0x0F, buffer.readBytes(length: length)!))
                #expect(first & 0x80 != 0)  // FIN
            }
        }
        return frames
    }

    func texts() throws -> [String] {
        try received().filter { $0.0 == 1 }.map { String(decoding: $0.1, as: UTF8.self) }
    }

    /// Client frames are masked (RFC 6455 §5.1); the key's value does not matter to the handler.
    let mask = WebSocketMaskingKey([1, 2, 3, 4])!

    /// The close code of the single close frame written since the last call.
    func closeCode() throws -> UInt16? {
        guard let close = try received().first(where: { $0.0 == 0x8 }) else { return nil }
        let bytes = close.1
        return bytes.count >= 2 ? UInt16(bytes[0]) << 8 | UInt16(bytes[1]) : nil
    }

    func fragment(_ opcode: WebSocketOpcode, _ text: String, fin: Bool) -> WebSocketFrame {
        var masked = ByteBuffer(string: text)
        masked.webSocketMask(mask)
        return WebSocketFrame(fin: fin, opcode: opcode, maskKey: mask, data: masked)
    }

    @Test func fragmentedMessageIsReassembledAroundAPing() throws {
        try channel.writeInbound(fragment(.text, #"{"id":1,"ty"#, fin: false))
        try channel.writeInbound(fragment(.ping, "p", fin: true))  // RFC 6455 §5.4: control frames may interleave
        try channel.writeInbound(fragment(.continuation, #"pe":"pi"#, fin: false))
        try channel.writeInbound(fragment(.continuation, #"ng"}"#, fin: true))
        channel.pipeline.fireChannelReadComplete()
        let frames = try received()
        #expect(frames.map(\.0) == [0xA, 0x1])
        #expect(String(decoding: frames[1].1, as: UTF8.self) == #"{"id":1,"type":"pong"}"#)
    }

    @Test func continuationWithoutAMessageClosesWith1002() throws {
        try channel.writeInbound(fragment(.continuation, "x", fin: true))
        channel.embeddedEventLoop.run()
        #expect(try closeCode() == 1002)
    }

    @Test func newMessageBeforeTheLastEndedClosesWith1002() throws {
        try channel.writeInbound(fragment(.text, "{", fin: false))
        try channel.writeInbound(fragment(.text, "}", fin: true))
        channel.embeddedEventLoop.run()
        #expect(try closeCode() == 1002)
    }

    @Test func reassembledMessageOverTheLimitClosesWith1009() throws {
        let chunk = String(repeating: "a", count: 600)
        try channel.writeInbound(fragment(.text, chunk, fin: false))
        try channel.writeInbound(fragment(.continuation, chunk, fin: true))  // 1200 > the 1024-byte limit
        channel.embeddedEventLoop.run()
        #expect(try closeCode() == 1009)
    }

    @Test func unmaskedFrameClosesWith1002() throws {
        try channel.writeInbound(
            WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: #"{"type":"ping"}"#)))
        channel.embeddedEventLoop.run()
        #expect(try closeCode() == 1002)
    }

    @Test func reservedBitsCloseWith1002() throws {
        try channel.writeInbound(clientFrame(.text, ByteBuffer(string: "{}"), rsv1: true))
        channel.embeddedEventLoop.run()
        #expect(try closeCode() == 1002)
    }

    @Test func invalidCloseCodesAndReasons() throws {
        var payload = ByteBuffer()
        payload.writeInteger(UInt16(1005))
        try channel.writeInbound(clientFrame(.connectionClose, payload))
        channel.embeddedEventLoop.run()
        #expect(try closeCode() == 1002)
    }

    @Test func closeReasonMustBeUTF8() throws {
        var payload = ByteBuffer()
        payload.writeInteger(UInt16(1000))
        payload.writeBytes([0xFF])
        try channel.writeInbound(clientFrame(.connectionClose, payload))
        channel.embeddedEventLoop.run()
        #expect(try closeCode() == 1007)
    }

    @Test func textFrameThatIsNotUTF8ClosesWith1007() throws {
        try channel.writeInbound(clientFrame(.text, ByteBuffer(bytes: [0x7B, 0xC3, 0x28, 0x7D])))
        channel.embeddedEventLoop.run()
        #expect(try closeCode() == 1007)
    }

    @Test func subscribePublishAndPush() throws {
        try send(#"{"id":1,"type":"subscribe","channel":"chat/a"}"#)
        let subscribed = try texts()
        #expect(subscribed.count == 1)
        #expect(subscribed[0].hasPrefix(#"{"id":1,"type":"subscribed","channel":"chat/a","offset":0,"epoch":""#))
        try send(#"{"id":2,"type":"publish","channel":"chat/a","data":{"n":1}}"#)
        // The push and the reply, in either order: a subscriber on the publisher's own loop is written to
        // during the publish, before the reply (docs/protocols/websocket.md, "Order").
        let frames = try texts().sorted()
        #expect(frames.count == 2)
        #expect(frames[0].hasPrefix(#"{"id":2,"type":"published","offset":1,"epoch":""#))
        #expect(frames[1].hasPrefix(#"{"type":"message","channel":"chat/a","data":{"n":1},"offset":1,"#))
    }

    /// The deliveries of one batch leave as one buffer, copied end to end (one pending write and one iovec
    /// for the batch); a large frame goes as the shared buffer it is, between them, in order; a reply
    /// written meanwhile follows what was delivered before it.
    @Test func deliveriesOfOneBatchLeaveInOneWrite() throws {
        try send(#"{"id":1,"type":"subscribe","channel":"b/1"}"#)
        _ = try texts()
        let topic = try Topic("b/1")
        let large = "l" + String(repeating: "x", count: NativeWSConnectionHandler.coalescedFrameLimit)
        for payload in ["m1", "m2", large, "m3", "m4"] {
            bus.publish(
                BusMessage(topic: topic, payload: ByteBuffer(string: "\"\(payload)\""), timestamp: 1),
                on: channel.embeddedEventLoop)
        }
        channel.embeddedEventLoop.run()
        let buffers = try channel.writtenBuffers()
        #expect(buffers.count == 3)
        let written = frames(in: buffers).map { String(decoding: $0.1, as: UTF8.self) }
        #expect(written.count == 5)
        for (text, mark) in zip(written, ["\"m1\"", "\"m2\"", "\"lxxx", "\"m3\"", "\"m4\""]) {
            #expect(text.hasPrefix(#"{"type":"message","channel":"b/1","data":"#) && text.contains(mark))
        }
        bus.publish(
            BusMessage(topic: topic, payload: ByteBuffer(string: "\"m5\""), timestamp: 1), on: channel.embeddedEventLoop
        )
        try send(#"{"id":2,"type":"ping"}"#)
        let after = try texts()
        #expect(after.count == 2 && after[0].contains("\"m5\"") && after[1] == #"{"id":2,"type":"pong"}"#)
    }

    @Test func errorsKeepTheConnectionUsable() throws {
        try send("{not json")
        #expect(channel.isActive, "after invalid JSON")
        try send(#"{"id":7,"type":"bogus"}"#)
        try send(#"{"id":8,"type":"publish","channel":"chat/+","data":1}"#)
        try send(#"{"id":9,"type":"unsubscribe","channel":"chat/zz"}"#)
        #expect(channel.isActive, "before binary")
        try send("binary", opcode: .binary)
        #expect(channel.isActive, "after binary")
        try send(#"{"id":10,"type":"subscribe","channel":"a//#/b"}"#)
        try send(#"{"id":11,"type":"history","channel":"nohistory"}"#)
        try send(#"{"id":12,"type":"ping"}"#)
        let frames = try texts()
        #expect(frames.count == 8)
        #expect(frames[0].hasPrefix(#"{"type":"error","code":"bad_request""#))
        #expect(frames[1].hasPrefix(#"{"id":7,"type":"error","code":"bad_request""#))
        #expect(frames[2].hasPrefix(#"{"id":8,"type":"error","code":"bad_request""#))
        #expect(frames[3].hasPrefix(#"{"id":9,"type":"error","code":"not_found""#))
        #expect(frames[4].hasPrefix(#"{"type":"error","code":"bad_request""#))
        #expect(frames[5].hasPrefix(#"{"id":10,"type":"error","code":"bad_request""#))
        #expect(frames[6].hasPrefix(#"{"id":11,"type":"error","code":"not_found""#))
        #expect(frames[7] == #"{"id":12,"type":"pong"}"#)
        #expect(channel.isActive)
    }

    @Test func subscriptionLimitAndDuplicates() throws {
        try send(#"{"id":1,"type":"subscribe","channel":"x/1"}"#)
        try send(#"{"id":2,"type":"subscribe","channel":"x/1"}"#)
        try send(#"{"id":3,"type":"subscribe","channel":"x/2"}"#)
        try send(#"{"id":4,"type":"subscribe","channel":"x/3"}"#)
        let frames = try texts()
        #expect(frames[1].hasPrefix(#"{"id":2,"type":"error","code":"bad_request""#))
        #expect(frames[2].hasPrefix(#"{"id":3,"type":"subscribed""#))
        #expect(frames[3].hasPrefix(#"{"id":4,"type":"error","code":"too_large""#))
        #expect(connections.list().first?.subscriptions == ["x/1", "x/2"])
    }

    @Test func overlappingSubscriptionsDeliverOnce() throws {
        try send(#"{"id":1,"type":"subscribe","channel":"o/+"}"#)
        try send(#"{"id":2,"type":"subscribe","channel":"o/#"}"#)
        _ = try texts()
        try send(#"{"type":"publish","channel":"o/x","data":true}"#)
        // A publish without an id gets no success reply.
        #expect(try texts() == [#"{"type":"message","channel":"o/x","data":true}"#])
    }

    @Test func connectWithTokenNamesTheUser() throws {
        try send(#"{"id":1,"type":"connect","token":"t","name":"tab"}"#)
        let frames = try texts()
        #expect(frames.count == 1)
        #expect(frames[0].contains(#""type":"connected""#) && frames[0].contains(#""version":"1","ping":25"#))
        #expect(connections.list().first?.userID == "alice")
        try send(#"{"id":2,"type":"connect","token":"t"}"#)
        #expect(try texts().first?.contains("already connected") == true)
    }

    @Test func serverPingsAndClosesWhenNothingComesBack() throws {
        channel.embeddedEventLoop.advanceTime(by: .seconds(25))
        let ping = try received()
        #expect(ping.count == 1 && ping[0].0 == 0x9)
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        try send(#"{"type":"ping"}"#)  // any frame counts as alive
        _ = try received()
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(try received().isEmpty && channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(15))  // next ping at 50 s
        #expect(try received().map(\.0) == [0x9])
        channel.embeddedEventLoop.advanceTime(by: .seconds(11))  // no answer within the 10 s pong timeout
        #expect(try closeCode() == 1008)
    }

    @Test func pingFrameIsAnsweredAndCloseIsEchoed() throws {
        try channel.writeInbound(clientFrame(.ping, ByteBuffer(string: "hb")))
        channel.pipeline.fireChannelReadComplete()
        let pong = try received()
        #expect(pong.count == 1 && pong[0].0 == 0xA && pong[0].1 == Array("hb".utf8))
        var payload = ByteBuffer()
        payload.writeInteger(UInt16(1000))
        try channel.writeInbound(clientFrame(.connectionClose, payload))
        channel.embeddedEventLoop.run()
        let close = try received()
        #expect(close.count == 1 && close[0].0 == 0x8)
        #expect(close.first?.1.prefix(2) == [0x03, 0xE8])  // RFC 6455 §5.5.1: the client's 1000 echoed
        #expect(!channel.isActive)
        #expect(connections.count == 0)
    }
}
