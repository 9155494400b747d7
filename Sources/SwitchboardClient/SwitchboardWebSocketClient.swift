import BusCore
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
public import NIOPosix
import NIOWebSocket

/// A native-protocol WebSocket connection (used by `switchboard subscribe`): sends JSON text frames,
/// hands every received text frame to `onText`.
public final class SwitchboardWebSocketClient: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    /// Connects and completes once the upgrade succeeded.
    public static func connect(
        url: SwitchboardURL, subprotocol: String? = "switchboard.v1",
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onText: @escaping @Sendable (String) -> Void, onClose: @escaping @Sendable (Int?) -> Void = { _ in }
    ) async throws -> SwitchboardWebSocketClient {
        let loop = group.next()
        let upgraded = loop.makePromise(of: Void.self)
        var keyBytes = [UInt8]()
        for _ in 0..<16 { keyBytes.append(UInt8.random(in: 0...255)) }
        let key = Base64.encode(keyBytes)
        let bootstrap = ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let requester = UpgradeRequester(url: url, key: key, subprotocol: subprotocol, upgraded: upgraded)
                    let upgrader = NIOWebSocketClientUpgrader(
                        requestKey: key, maxFrameSize: 1 << 24, automaticErrorHandling: true,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOWebSocketFrameAggregator(
                                        minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16,
                                        maxAccumulatedFrameSize: 1 << 24))
                                try channel.pipeline.syncOperations.addHandler(
                                    FrameReader(onText: onText, onClose: onClose))
                                upgraded.succeed(())
                            }
                        })
                    let boundRequester = NIOLoopBound(requester, eventLoop: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        withClientUpgrade: (
                            upgraders: [upgrader],
                            completionHandler: { context in
                                context.pipeline.syncOperations.removeHandler(boundRequester.value, promise: nil)
                            }
                        ))
                    try channel.pipeline.syncOperations.addHandler(requester)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: url.host, port: url.port).get()
        } catch {
            upgraded.fail(error)  // nothing will complete it: a leaked promise traps in debug builds
            throw error
        }
        try await upgraded.futureResult.get()
        return SwitchboardWebSocketClient(channel: channel)
    }

    /// Sends one text frame.
    public func send(_ text: String) {
        var mask: [UInt8] = []
        for _ in 0..<4 { mask.append(UInt8.random(in: 0...255)) }
        let frame = WebSocketFrame(
            fin: true, opcode: .text, maskKey: WebSocketMaskingKey(mask), data: ByteBuffer(string: text))
        channel.writeAndFlush(frame, promise: nil)
    }

    /// Completes when the connection is closed.
    public func closed() async throws { try await channel.closeFuture.get() }

    public func close() { channel.close(promise: nil) }

    /// Sends the upgrade request once connected; reports a refused upgrade.
    private final class UpgradeRequester: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart
        let url: SwitchboardURL
        let key: String
        let subprotocol: String?
        let upgraded: EventLoopPromise<Void>
        private var status = 0
        private var body = ByteBuffer()

        init(url: SwitchboardURL, key: String, subprotocol: String?, upgraded: EventLoopPromise<Void>) {
            self.url = url
            self.key = key
            self.subprotocol = subprotocol
            self.upgraded = upgraded
        }

        func channelActive(context: ChannelHandlerContext) {
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.path)
            head.headers.add(name: "Host", value: "\(url.host):\(url.port)")
            if let subprotocol { head.headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body(var chunk): body.writeBuffer(&chunk)
            case .end:
                upgraded.fail(SwitchboardClientError.upgradeRefused(status: status, body: String(buffer: body)))
                context.close(promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            upgraded.fail(SwitchboardClientError.connectionClosed)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            upgraded.fail(error)
            context.close(promise: nil)
        }
    }

    private final class FrameReader: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let onText: @Sendable (String) -> Void
        let onClose: @Sendable (Int?) -> Void
        private var closeCode: Int?

        init(onText: @escaping @Sendable (String) -> Void, onClose: @escaping @Sendable (Int?) -> Void) {
            self.onText = onText
            self.onClose = onClose
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            switch frame.opcode {
            case .text:
                onText(String(buffer: frame.unmaskedData))
            case .ping:
                let pong = WebSocketFrame(
                    fin: true, opcode: .pong, maskKey: WebSocketMaskingKey([1, 2, 3, 4]), data: frame.unmaskedData)
                context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
            case .connectionClose:
                var payload = frame.unmaskedData
                closeCode = payload.readInteger(as: UInt16.self).map(Int.init)
                context.close(promise: nil)
            default:
                break
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            onClose(closeCode)
            context.fireChannelInactive()
        }
    }
}
