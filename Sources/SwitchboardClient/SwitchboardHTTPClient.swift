import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
public import NIOPosix

/// One-shot HTTP/1.1 requests against the server's API (used by `switchboard publish`).
public enum SwitchboardHTTPClient {
    /// A response's status and body.
    public struct Response: Sendable {
        public var status: Int
        public var body: String
    }

    public static func request(
        method: String, url: SwitchboardURL, headers: [(String, String)] = [], body: String? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> Response {
        let promise = group.next().makePromise(of: Response.self)
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: url.path)
        head.headers.add(name: "Host", value: "\(url.host):\(url.port)")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        }
        let requestHead = head
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                    }
                }
                .connect(host: url.host, port: url.port).get()
        } catch {
            // Nothing will answer: the promise is completed here, or NIO reports it leaked (and a debug
            // build traps) when it is released — what `publish` to an unreachable server ran into.
            promise.fail(error)
            throw error
        }
        channel.write(HTTPClientRequestPart.head(requestHead), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer { channel.close(promise: nil) }
        return try await promise.futureResult.get()
    }

    private final class ResponseCollector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        private let promise: EventLoopPromise<Response>
        private var status = 0
        private var body = ByteBuffer()

        init(promise: EventLoopPromise<Response>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body(var chunk): body.writeBuffer(&chunk)
            case .end: promise.succeed(Response(status: status, body: String(buffer: body)))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(SwitchboardClientError.connectionClosed)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}
