import Logging
import NIOCore
import NIOSSL
import RedisWire

/// One Redis connection's handler: writes commands, matches replies to them in order (`RedisReplyQueue`)
/// and hands pub/sub messages to the client. Confined to its channel's event loop, which is the client's;
/// the client's futures on that loop hold it (hence `@unchecked Sendable`).
final class RedisConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = RESPValue

    private var replies = RedisReplyQueue()
    private var context: ChannelHandlerContext?
    private let deliver: (RedisPubSubMessage) -> Void
    private let shardUnsubscribed: (String) -> Void
    private let logger: Logger

    init(
        logger: Logger, shardUnsubscribed: @escaping (String) -> Void = { _ in },
        deliver: @escaping (RedisPubSubMessage) -> Void
    ) {
        self.logger = logger
        self.deliver = deliver
        self.shardUnsubscribed = shardUnsubscribed
    }

    var usesRESP2: Bool {
        get { replies.usesRESP2 }
        set { replies.usesRESP2 = newValue }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        failAll(.connectionClosed)
    }

    /// Writes `commands` in one buffer and one flush, each answered through its entry of `pending`.
    func write(_ commands: [RESPCommand], pending: [RedisReplyQueue.Pending]) {
        guard let context, context.channel.isActive else {
            for entry in pending { Self.fail(entry, .connectionClosed) }
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 64 * commands.count)
        for command in commands { buffer.writeRESPCommand(command) }
        for entry in pending { replies.append(entry) }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch replies.valueReceived(unwrapInboundIn(data)) {
        case .succeed(let promise, let value):
            promise.succeed(value)
        case .fail(let reply, let confirmations, let error):
            reply?.fail(error)
            confirmations?.fail(error)
        case .confirmed(let promise):
            promise.succeed(())
        case .deliver(let message):
            deliver(message)
        case .shardUnsubscribed(let channel):
            shardUnsubscribed(channel)
        case .none:
            break
        case .protocolViolation(let why):
            logger.warning("closing the Redis connection", metadata: ["reason": "\(why)"])
            failAll(.protocolViolation(why))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Redis closes TLS connections without a close_notify; the drop itself is logged by the client.
        let level: Logger.Level = (error as? NIOSSLError) == .uncleanShutdown ? .debug : .warning
        logger.log(level: level, "closing the Redis connection", metadata: ["error": "\(error)"])
        failAll(error is RESPDecodingError ? .protocolViolation("\(error)") : .connectionClosed)
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisClientError) {
        for entry in replies.removeAll() { Self.fail(entry, error) }
    }

    private static func fail(_ entry: RedisReplyQueue.Pending, _ error: RedisClientError) {
        switch entry {
        case .reply(let promise): promise.fail(error)
        case .confirmations(_, _, let promise): promise.fail(error)
        }
    }
}
