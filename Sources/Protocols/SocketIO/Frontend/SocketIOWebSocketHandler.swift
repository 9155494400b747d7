import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOWebSocket
import SocketIOWire

/// One WebSocket of an Engine.IO session: opened directly (`transport=websocket`, a new session on this
/// connection's loop) or as an upgrade of a polling session (`&sid=…`, a session that may live on
/// another loop). Frames are decoded here and handed to the session on its loop; the session's packets
/// come back as frames. Writes from another loop are handed to the channel, which hops.
final class SocketIOWebSocketHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame

    private let services: SocketIOServices
    /// nil: a new session; else the polling session to upgrade.
    private let upgradingSessionID: String?
    private let echoesEngineIO: Bool
    private let credentials: ClientCredentials
    /// With permessage-deflate negotiated: data frames of at least `minimumBytes` leave compressed.
    private let deflate: (parameters: WebSocketDeflateParameters, compression: WebSocketCompression)?
    private var session: SocketIOSession?
    private var context: ChannelHandlerContext?
    private var channel: (any Channel)?
    /// The channel's core, for writes on its own loop: pre-encoded frames need no pipeline (the handlers in
    /// front of this one only read), so a delivery goes to the socket's buffer directly, as on `/ws`.
    private var core: (any ChannelCore)?
    /// Whether the session lives on this channel's loop (always for a WebSocket-only session): then its
    /// writes need no loop check.
    private var sessionOnChannelLoop = false
    /// Mirrors the channel's writability on its loop.
    private var writable = true
    /// Frames sent on the delivery path since the last flush, copied end to end: one pending write and one
    /// iovec per flush, not one per frame (as `/ws`, `NativeWSConnectionHandler.coalescedFrameLimit`).
    private var out = ByteBuffer()

    init(
        services: SocketIOServices, sessionID: String?, echoesEngineIO: Bool, credentials: ClientCredentials,
        deflate: (parameters: WebSocketDeflateParameters, compression: WebSocketCompression)? = nil
    ) {
        self.services = services
        self.deflate = deflate
        self.upgradingSessionID = sessionID
        self.echoesEngineIO = echoesEngineIO
        self.credentials = credentials
    }

    var isWritable: Bool { writable }
    /// The channel, for publisher flow control's reading switch (`Channel.setOption` hops to its loop).
    var readingChannel: (any Channel)? { channel }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.channel = context.channel
        // Under TLS frames go through the pipeline (the channel's write), which encrypts them.
        self.core = context.mayWritePastPipeline ? context.channel._channelCore : nil
        self.writable = context.channel.isWritable
        if let sid = upgradingSessionID {
            // An upgrade: the session must exist and still be polling (else: close, the spec's "ignore").
            guard let session = services.registry.session(sid) else { return closeRefused() }
            self.session = session
            sessionOnChannelLoop = session.eventLoop === context.eventLoop
            on(session) { [self] session in
                if !session.upgradeStarted(self) { closeRefused() }
            }
            return
        }
        let session = SocketIOSession(
            sid: services.bus.makeIdentifier() + services.bus.makeIdentifier(), services: services,
            eventLoop: context.eventLoop, echoesEngineIO: echoesEngineIO, credentials: credentials,
            remoteAddress: context.channel.remoteAddress)
        self.session = session
        sessionOnChannelLoop = true
        guard session.start(on: .websocket(self)) else {
            return closeWith(code: .policyViolation, reason: "connection limit")
        }
        flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        transportLost()
        self.context = nil
        self.core = nil
        out = ByteBuffer()
    }

    func channelInactive(context: ChannelHandlerContext) {
        transportLost()
        context.fireChannelInactive()
    }

    private func transportLost() {
        guard let session else { return }
        self.session = nil
        on(session) { session in
            switch session.transport {
            case .websocket(let handler) where handler === self: session.close(.transportClosed)
            case .upgrading(let handler) where handler === self: session.upgradeAbandoned()
            default: break
            }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable, let session { on(session) { $0.transportDrained(self) } }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let bytes = frame.unmaskedData
            guard bytes.readableBytes <= services.configuration.maxPayload,
                let packet = try? EngineIOPacket.decodeText(bytes)
            else { return protocolError() }
            forward(packet)
        case .binary:
            forward(.binary(frame.unmaskedData))
        case .ping:
            context.writeAndFlush(
                NIOAny(WebSocketFrameWriter.frame(.pong, payload: frame.unmaskedData)), promise: nil)
        case .pong:
            break
        case .connectionClose:
            closeWith(code: .normalClosure, reason: "")
        default:
            protocolError()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let answer = WebSocketCloseCode.forError(error) {
            closeWith(code: WebSocketErrorCode(codeNumber: Int(answer.code)), reason: answer.reason)
        } else {
            context.close(promise: nil)
        }
    }

    private func protocolError() {
        guard let session else { return closeWith(code: .protocolError, reason: "invalid packet") }
        on(session) { $0.close(.protocolError) }
    }

    private func forward(_ packet: EngineIOPacket) {
        guard let session else { return }
        on(session) { $0.receive(packet, from: self) }
    }

    /// Runs `body` on the session's loop (at once when it is this one).
    private func on(_ session: SocketIOSession, _ body: @escaping (SocketIOSession) -> Void) {
        if session.eventLoop.inEventLoop {
            body(session)
        } else {
            session.eventLoop.execute { body(session) }
        }
    }

    // MARK: - Writing (called on the session's loop)

    func send(_ packet: EngineIOPacket) {
        let frame: ByteBuffer
        if packet.isBinary {
            frame = WebSocketFrameWriter.frame(.binary, payload: packet.data)
        } else {
            frame = WebSocketFrameWriter.textFrame(capacity: packet.data.readableBytes + 1) {
                packet.writeText(into: &$0)
            }
        }
        sendFrame(frame)
    }

    func sendFrame(_ frame: ByteBuffer) {
        // The delivery path: a shared frame, on this loop, straight to the socket's buffer.
        if deflate == nil, sessionOnChannelLoop, let core {
            guard frame.readableBytes <= Self.coalescedFrameLimit else {
                handOver(core)
                return core.write0(NIOAny(frame), promise: nil)
            }
            out.writeImmutableBuffer(frame)
            if out.readableBytes >= Self.coalescedBytesLimit { handOver(core) }
            return
        }
        guard let channel else { return }
        if let deflate {
            // Frames of a delivery are shared plain; a connection that negotiated deflate compresses its copy,
            // frame by frame (a binary delivery is a text frame and its attachment's binary frame).
            var rest = frame
            var compressed = ByteBuffer()
            while let one = SocketIOWebSocketHandler.nextFrame(&rest) {
                var deflated = WebSocketFrameWriter.deflating(
                    one, deflate: deflate.parameters, compression: deflate.compression)
                compressed.writeBuffer(&deflated)
            }
            return write(compressed, on: channel)
        }
        write(frame, on: channel)
    }

    /// The first whole frame of `buffer` (server frames: unmasked, as `WebSocketFrameWriter` makes them).
    private static func nextFrame(_ buffer: inout ByteBuffer) -> ByteBuffer? {
        guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else { return nil }
        let (header, length): (Int, Int)
        switch second & 0x7F {
        case 126: (header, length) = (4, Int(buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) ?? 0))
        case 127: (header, length) = (10, Int(buffer.getInteger(at: buffer.readerIndex + 2, as: UInt64.self) ?? 0))
        case let short: (header, length) = (2, Int(short))
        }
        return buffer.readSlice(length: min(header + length, buffer.readableBytes))
    }

    private func write(_ frame: ByteBuffer, on channel: any Channel) {
        if let core, sessionOnChannelLoop || channel.eventLoop.inEventLoop {
            handOver(core)
            core.write0(NIOAny(frame), promise: nil)
        } else {
            channel.write(frame, promise: nil)
        }
    }

    func flush() {
        guard let channel else { return }
        guard let core, sessionOnChannelLoop || channel.eventLoop.inEventLoop else { return channel.flush() }
        let coalesced = out.readableBytes
        if coalesced > 0 { core.write0(NIOAny(out), promise: nil) }
        core.flush0()
        // A batch's buffer is kept for the next (the socket usually took the bytes: it is ours again); a
        // lone frame's (a ping, a sparse delivery) is given back, so an idle session holds no storage.
        if coalesced < Self.keptAfterBytes || out.capacity > Self.keptCapacity {
            out = ByteBuffer()
        } else {
            out.clear()
        }
    }

    /// Gives the channel what `out` holds, without flushing, and starts it afresh (a write that must follow
    /// it, or a buffer grown to `coalescedBytesLimit`).
    private func handOver(_ core: any ChannelCore) {
        guard out.readableBytes > 0 else { return }
        core.write0(NIOAny(out), promise: nil)
        out = ByteBuffer()
    }

    /// Frames up to this size are copied into `out`; a larger one is written as the shared buffer it is.
    static let coalescedFrameLimit = 2_048
    /// `out` is handed to the channel once it holds this much, before the flush.
    static let coalescedBytesLimit = 16 << 10
    /// A flush of less than this gives `out`'s storage back; a larger buffer than `keptCapacity` is not kept.
    static let keptAfterBytes = 512
    static let keptCapacity = 64 << 10

    /// The session ended: a close frame, then the connection.
    func closeSession(_ reason: SocketIOSession.CloseReason) {
        session = nil
        let code: WebSocketErrorCode = reason == .protocolError ? .protocolError : .normalClosure
        closeWith(code: code, reason: "")
    }

    /// An upgrade that cannot be accepted (unknown sid, already upgraded).
    func closeRefused() {
        session = nil
        closeWith(code: .policyViolation, reason: "session unknown or already upgraded")
    }

    private func closeWith(code: WebSocketErrorCode, reason: String) {
        guard let channel else { return }
        let frame = WebSocketFrameWriter.close(code: code, reason: reason)
        channel.eventLoop.execute { [self] in
            // Frames sent before it go first.
            if let core { handOver(core) }
            if let context {
                ConnectionLifecycle.writeAndClose(NIOAny(frame), context: context)
            } else {
                channel.close(promise: nil)
            }
        }
    }
}
