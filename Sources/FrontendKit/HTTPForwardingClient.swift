import NIOConcurrencyHelpers
package import NIOCore
package import NIOHTTP1
import NIOPosix

/// HTTP/1.1 to the other instances, for requests that belong to a session another instance holds
/// (`SessionForwarder`): one request at a time per connection, connections kept per address and reused
/// while they stay open (a long poll holds one for its whole wait). The answer is read whole, up to
/// `maxResponseBytes`; what is not a complete answer fails the request.
package final class HTTPForwardingClient: Sendable {
    /// Connections kept idle per address; more are closed when they come back.
    package static let maxIdlePerAddress = 16
    /// The largest answer relayed (an Engine.IO or SignalR poll is bounded by its own payload limits).
    package static let maxResponseBytes = 16 << 20
    /// How long a connection may take to open (an instance that is gone refuses or times out).
    package static let connectTimeout = TimeAmount.seconds(2)

    private let group: any EventLoopGroup
    private let idle = NIOLockedValueBox<[String: [any Channel]]>([:])

    package init(group: any EventLoopGroup) {
        self.group = group
    }

    /// Sends `head` and `body` to `host:port`; the answer (or the failure) is returned on `loop`. `cancel`,
    /// when it completes first (the client's own connection closed), closes the forwarded connection, so
    /// the other instance sees its poll end as it would have.
    package func send(
        _ head: HTTPRequestHead, body: ByteBuffer, host: String, port: Int, on loop: any EventLoop,
        cancel: EventLoopFuture<Void>? = nil
    ) -> EventLoopFuture<HTTPResponse> {
        let key = "\(host):\(port)"
        let channel: EventLoopFuture<any Channel>
        if let kept = takeIdle(key) {
            channel = kept.eventLoop.makeSucceededFuture(kept)
        } else {
            channel = ClientBootstrap(group: loop)
                .connectTimeout(Self.connectTimeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(HTTPForwardingHandler())
                    }
                }
                .connect(host: host, port: port)
        }
        return channel.flatMap { channel in
            // On the channel's loop (the future completed there): the handler is reached synchronously.
            let promise = channel.eventLoop.makePromise(of: HTTPForwardingHandler.Answer.self)
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: HTTPForwardingHandler.self)
                handler.start(promise)
                var head = head
                head.headers.remove(name: "Connection")
                head.headers.remove(name: "Keep-Alive")
                head.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                if body.readableBytes > 0 { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            } catch {
                promise.fail(error)
            }
            // The client went away while this request was in flight: its poll on the other instance ends
            // with this connection. Not once the answer came (the connection may serve another request).
            let answered = NIOLockedValueBox(false)
            promise.futureResult.whenComplete { _ in answered.withLockedValue { $0 = true } }
            cancel?.whenComplete { _ in
                channel.eventLoop.execute {
                    if !answered.withLockedValue({ $0 }), channel.isActive { channel.close(promise: nil) }
                }
            }
            return promise.futureResult.map { answer in
                if answer.keepAlive, channel.isActive {
                    self.putIdle(channel, key: key)
                } else {
                    channel.close(promise: nil)
                }
                return answer.response
            }
        }.hop(to: loop)
    }

    private func takeIdle(_ key: String) -> (any Channel)? {
        idle.withLockedValue { idle in
            while var channels = idle[key], let channel = channels.popLast() {
                idle[key] = channels.isEmpty ? nil : channels
                if channel.isActive { return channel }
            }
            return nil
        }
    }

    private func putIdle(_ channel: any Channel, key: String) {
        let kept = idle.withLockedValue { idle -> Bool in
            guard idle[key, default: []].count < Self.maxIdlePerAddress else { return false }
            idle[key, default: []].append(channel)
            return true
        }
        if !kept { channel.close(promise: nil) }
    }
}

/// Reads one answer per request on a forwarding connection.
final class HTTPForwardingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    struct Answer: Sendable {
        var response: HTTPResponse
        var keepAlive: Bool
    }

    /// Headers the serving side writes itself (framing, connection, its own `Server`/`Date`).
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "content-length", "transfer-encoding", "date", "server",
    ]

    private var pending: EventLoopPromise<Answer>?
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()

    func start(_ promise: EventLoopPromise<Answer>) {
        pending = promise
        head = nil
        body.clear()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received):
            head = received
        case .body(var part):
            guard body.readableBytes + part.readableBytes <= HTTPForwardingClient.maxResponseBytes else {
                fail(HTTPForwardingError.responseTooLarge)
                return context.close(promise: nil)
            }
            body.writeBuffer(&part)
        case .end:
            guard let head, let pending else { return context.close(promise: nil) }
            self.pending = nil
            var headers = HTTPHeaders()
            for (name, value) in head.headers where !Self.hopByHop.contains(name.lowercased()) {
                headers.add(name: name, value: value)
            }
            pending.succeed(
                Answer(
                    response: HTTPResponse(status: head.status, headers: headers, body: body),
                    keepAlive: head.isKeepAlive))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    private func fail(_ error: any Error) {
        let pending = self.pending
        self.pending = nil
        pending?.fail(error)
    }
}

/// Why a forwarded request got no answer to relay.
package enum HTTPForwardingError: Error, Sendable {
    case responseTooLarge
}
