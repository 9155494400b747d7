import Logging
import NIOCore
import NIOEmbedded
import RedisWire
import Testing

@testable import RedisEngine

/// The connection handler on an `EmbeddedChannel`: what it writes, how replies complete commands, and what
/// malformed bytes from the server do.
@Suite struct RedisConnectionHandlerTests {
    final class Delivered: @unchecked Sendable {
        var messages: [RedisPubSubMessage] = []
    }

    static func channel(_ delivered: Delivered) throws -> (EmbeddedChannel, RedisConnectionHandler) {
        let handler = RedisConnectionHandler(logger: Logger(label: "test")) { delivered.messages.append($0) }
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(RESPMessageDecoder(decoder: RESPDecoder())))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        return (channel, handler)
    }

    @Test func aBatchIsOneWriteAndRepliesCompleteInOrder() throws {
        let delivered = Delivered()
        let (channel, handler) = try Self.channel(delivered)
        let promises = (0..<2).map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        handler.write([RESPCommand("SET", "k", "v"), RESPCommand("GET", "k")], pending: promises.map { .reply($0) })
        let written = try channel.readOutbound(as: ByteBuffer.self)
        #expect(
            written.map { String(buffer: $0) }
                == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        // The replies arrive split across reads, a push between them.
        try channel.writeInbound(ByteBuffer(string: "+OK\r\n>3\r\n+message\r\n+c\r\n$1\r\nx\r\n$"))
        #expect(try promises[0].futureResult.wait() == .simpleString("OK"))
        #expect(delivered.messages.map(\.channel) == ["c"])
        try channel.writeInbound(ByteBuffer(string: "1\r\nv\r\n"))
        #expect(try promises[1].futureResult.wait().string == "v")
        _ = try channel.finish()
    }

    @Test func malformedBytesFailWhatIsInFlightAndClose() throws {
        let (channel, handler) = try Self.channel(Delivered())
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.write([RESPCommand("PING")], pending: [.reply(promise)])
        // The decoder's error reaches the handler, which takes it: nothing escapes the pipeline.
        try channel.writeInbound(ByteBuffer(string: "?bogus\r\n"))
        #expect(throws: RedisClientError.protocolViolation("RESP decoding error: unknownType(63)")) {
            try promise.futureResult.wait()
        }
        #expect(!channel.isActive)
    }

    @Test func aReplyNobodyAskedForCloses() throws {
        let (channel, _) = try Self.channel(Delivered())
        try channel.writeInbound(ByteBuffer(string: ":1\r\n"))
        #expect(!channel.isActive)
    }

    @Test func writesAfterTheCloseFailAtOnce() throws {
        let (channel, handler) = try Self.channel(Delivered())
        let inFlight = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.write([RESPCommand("PING")], pending: [.reply(inFlight)])
        try channel.close().wait()
        #expect(throws: RedisClientError.connectionClosed) { try inFlight.futureResult.wait() }
        let late = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.write([RESPCommand("PING")], pending: [.reply(late)])
        #expect(throws: RedisClientError.connectionClosed) { try late.futureResult.wait() }
    }
}
