package import NIOCore
package import NIOHTTP1
import NIOPosix

/// A client's connection spliced to another instance (issue 23, docs/redis.md "Sessions across
/// instances"): for a request that opens a connection which never ends as one answer — a WebSocket
/// upgrade (Engine.IO `transport=websocket&sid=…`, a SignalR WebSocket or stateful reconnect) or a
/// Server-Sent Events stream — for a session another instance holds. The request is sent to that
/// instance as it came (plus `X-Switchboard-Forwarded`), and from then on the bytes of both connections
/// are relayed as they are, both ways, until either side closes: the other instance answers the
/// upgrade (its 101 and its `Sec-WebSocket-Accept` for the client's key) and speaks the protocol itself.
///
/// An HTTP route answers with a response carrying the tunnel (`HTTPResponse.tunnel`); `HTTPServerHandler`
/// then takes its HTTP handlers out of the client's pipeline and joins the two connections.
package struct HTTPTunnel: Sendable {
    /// The connection to the other instance, on the client connection's event loop, with the request
    /// written; what it answers waits in its `HTTPTunnelGlue` until the two are joined.
    package let channel: any Channel

    /// Connects to `host:port` on `loop` (the client connection's loop: the two halves of a splice run on
    /// one loop) and writes the request: `head` as it came, plus `X-Switchboard-Forwarded`, and `body`.
    package static func open(
        _ head: HTTPRequestHead, body: ByteBuffer, host: String, port: Int, on loop: any EventLoop
    ) -> EventLoopFuture<HTTPTunnel> {
        ClientBootstrap(group: loop)
            .connectTimeout(HTTPForwardingClient.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HTTPTunnelGlue())
                }
            }
            .connect(host: host, port: port)
            .map { channel in
                channel.writeAndFlush(Self.encode(head, body: body, allocator: channel.allocator), promise: nil)
                return HTTPTunnel(channel: channel)
            }
    }

    /// The request's bytes (RFC 9112 §3, §5): its request line and headers as they came, the marker
    /// header, and the body with its length.
    static func encode(_ head: HTTPRequestHead, body: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var bytes = allocator.buffer(capacity: 256 + body.readableBytes)
        bytes.writeString("\(head.method.rawValue) \(head.uri) HTTP/1.1\r\n")
        for (name, value) in head.headers
        where name.lowercased() != "content-length" && name.lowercased() != "transfer-encoding" {
            bytes.writeString("\(name): \(value)\r\n")
        }
        bytes.writeString("\(SessionForwarder.forwardedHeader): 1\r\n")
        if body.readableBytes > 0 { bytes.writeString("Content-Length: \(body.readableBytes)\r\n") }
        bytes.writeStaticString("\r\n")
        var body = body
        bytes.writeBuffer(&body)
        return bytes
    }

    /// Joins the client connection (`context`'s, whose HTTP handlers the caller removes right after, so
    /// bytes the request decoder still held reach the glue) to the tunnel. Both are on one loop.
    func join(_ context: ChannelHandlerContext) throws {
        let pipeline = context.pipeline.syncOperations
        let remote = try channel.pipeline.syncOperations.handler(type: HTTPTunnelGlue.self)
        let local = HTTPTunnelGlue()
        local.partner = remote
        remote.partner = local
        try pipeline.addHandler(local)
        remote.partnerJoined()
    }
}

/// One half of a splice (after swift-nio's NIOConnectProxy `GlueHandler`): what its channel reads is
/// written to the partner's, a partner that cannot take more stops the reading (so neither side buffers
/// without bound), and either side closing closes the other. Before it has a partner (the other instance's
/// answer arriving before the client's connection is joined) it keeps what it reads, then hands it over.
/// Confined to the one event loop both channels share.
final class HTTPTunnelGlue: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    fileprivate var partner: HTTPTunnelGlue?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Read before the partner joined; bounded by the reading stopping (below) once anything is held.
    private var held: [ByteBuffer] = []
    private var closedBeforeJoin = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    /// The partner is in place: what was held goes to it.
    fileprivate func partnerJoined() {
        if !held.isEmpty {
            for buffer in held { partner?.partnerWrite(buffer) }
            held.removeAll()
            partner?.partnerFlush()
        }
        if closedBeforeJoin {
            partner?.partnerClose()
        } else if pendingRead, partner?.partnerWritable == true {
            pendingRead = false
            context?.read()
        }
    }

    private func partnerWrite(_ data: ByteBuffer) {
        context?.write(wrapOutboundOut(data), promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerClose() {
        context?.close(promise: nil)
    }

    private var partnerWritable: Bool {
        context?.channel.isWritable ?? false
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if let partner { partner.partnerWrite(buffer) } else { held.append(buffer) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let partner { partner.partnerClose() } else { closedBeforeJoin = true }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        // No partner yet: read no further than the first answer bytes until one joins.
        if partner?.partnerWritable ?? held.isEmpty {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
