import BusCore
import BusRuntime
import DequeModule
import FrontendKit
import NIOCore
import NIOWebSocket
import SignalRWire

/// Stateful reconnect (HubProtocol.md §Stateful Reconnect; ASP.NET Core 8's `useStatefulReconnect`): both
/// sides number their trackable messages (invocations, stream items, completions, cancels) from 1, keep
/// what they sent until the peer acknowledges it (`Ack`), and after a dropped WebSocket the client
/// reconnects with the same connection token: the server answers `Sequence` with the first number it
/// still holds and sends again everything unacknowledged, in order; the client does the same, and each
/// side drops what it had already processed. The connection — its groups, its subscriptions on the bus —
/// stays alive while it waits, so what is published meanwhile is kept for it too. Confined to the
/// connection's loop.
struct SignalRResumeState {
    /// Bytes of unacknowledged messages kept for a replay; past it the connection can no longer resume
    /// (it goes on, and a later drop ends it) rather than hold the bus back.
    let bufferLimit: Int
    /// Trackable messages sent and not acknowledged, as written (WebSocket frames), oldest first; the
    /// first one's number is `firstSequence`.
    private(set) var unacknowledged = Deque<ByteBuffer>()
    private(set) var firstSequence: Int64 = 1
    private(set) var bufferedBytes = 0
    /// Past `bufferLimit` once: nothing is kept any more and the connection cannot resume.
    private(set) var overflowed = false
    /// The number the client's next trackable message will carry, and the last one processed.
    private var nextInbound: Int64 = 1
    private(set) var latestInbound: Int64 = 0
    var lastAckSent: Int64 = 0
    /// After a reconnect the client's first message must be its `Sequence`; until it comes, what it
    /// sends is ignored (as the clients ignore the server's until the server's `Sequence`).
    var awaitingSequence = false

    init(bufferLimit: Int) {
        self.bufferLimit = bufferLimit
    }

    /// The number of the next trackable message the server sends.
    var nextOutbound: Int64 { firstSequence + Int64(unacknowledged.count) }

    /// Keeps a trackable message just sent for a replay.
    mutating func record(_ frame: ByteBuffer) {
        guard !overflowed else { return }
        unacknowledged.append(frame)
        bufferedBytes += frame.readableBytes
        if bufferedBytes > bufferLimit {
            overflowed = true
            unacknowledged.removeAll()
            bufferedBytes = 0
        }
    }

    /// The client has processed everything up to `sequence`: it need not be sent again.
    mutating func acknowledge(_ sequence: Int64) {
        while firstSequence <= sequence, let frame = unacknowledged.popFirst() {
            bufferedBytes -= frame.readableBytes
            firstSequence += 1
        }
    }

    /// Numbers one trackable message from the client: true when it is new, false for a duplicate a
    /// replay sent again (ignored).
    mutating func admitInbound() -> Bool {
        let sequence = nextInbound
        nextInbound += 1
        guard sequence > latestInbound else { return false }
        latestInbound = sequence
        return true
    }

    /// The client's `Sequence`: the number its next message carries. False when it claims to start
    /// past what arrived (messages would be missing): a protocol error.
    mutating func resetInbound(to sequence: Int64) -> Bool {
        guard sequence >= 1, sequence <= nextInbound else { return false }
        nextInbound = sequence
        awaitingSequence = false
        return true
    }
}

extension SignalRConnectionHandler {
    /// Whether a dropped WebSocket leaves this connection waiting for its client to reconnect: it
    /// negotiated stateful reconnect, it is open (not closed by either side), and its replay buffer held.
    var waitsForReconnect: Bool {
        guard let resume, !resume.overflowed, case .open = phase, case .webSocket = outbound else { return false }
        return true
    }

    /// The WebSocket dropped without a close: keep everything, buffer what comes, and wait up to
    /// `disconnect_timeout_ms` for the client to reconnect with its token.
    func detach() {
        context = nil
        core = nil
        remoteChannel = nil
        if detachedSince == nil { detachedSince = eventLoop.now }
    }

    /// The client reconnected (`SignalRReattachedTransport` on the new channel, on whatever loop it
    /// landed): the server's `Sequence`, every unacknowledged message again, then on as before. A
    /// reconnect while the old socket still looks open (a half-open TCP connection) replaces it.
    func reattach(
        _ channel: any Channel, deflate: (parameters: WebSocketDeflateParameters, compression: WebSocketCompression)?
    ) {
        guard case .open = phase, var resume else {
            channel.close(promise: nil)
            return
        }
        if let context {
            self.context = nil
            core = nil
            context.close(promise: nil)
        }
        remoteChannel?.close(promise: nil)
        remoteChannel = channel
        detachedSince = nil
        self.deflate = deflate
        writable = true
        let now = eventLoop.now
        lastReceived = now
        lastSent = now
        resume.awaitingSequence = true
        let first = resume.unacknowledged.isEmpty ? resume.nextOutbound : resume.firstSequence
        let replay = resume.unacknowledged
        self.resume = resume
        send(.sequence(sequenceID: first))
        for frame in replay { writeWebSocketFrame(frame) }
        flushIfNeeded()
    }

    /// The reattached channel closed.
    func transportDropped(_ channel: any Channel) {
        guard channel === remoteChannel else { return }
        remoteChannel = nil
        connectionEnded()
    }

    /// `Ack` and `Sequence` from the client, and the numbering of its trackable messages; false when the
    /// message is to be ignored (a duplicate, or anything before the `Sequence` after a reconnect).
    func admitForResume(_ message: SignalRHubMessage) -> Bool {
        guard var resume else { return true }
        defer { self.resume = resume }
        switch message {
        case .sequence(let sequence):
            if !resume.resetInbound(to: sequence) {
                self.resume = resume
                closeWithError("Sequence ID greater than amount of messages we've received.")
            }
            return false
        case .ack(let sequence):
            resume.acknowledge(sequence)
            return false
        default:
            guard !resume.awaitingSequence else { return false }
            return message.isTrackable ? resume.admitInbound() : true
        }
    }

    /// Sends an `Ack` for what arrived since the last one (from the keep-alive sweep: at most one every
    /// 250 ms, where the clients wait a second).
    func acknowledgeIfNeeded() {
        guard let resume, resume.latestInbound > resume.lastAckSent, !resume.awaitingSequence else { return }
        self.resume?.lastAckSent = resume.latestInbound
        send(.ack(sequenceID: resume.latestInbound))
        flushIfNeeded()
    }
}

/// The SignalR handler of a WebSocket that reconnected a waiting connection: the connection stays on
/// its own loop, so frames are handed to it there and it writes through this channel's thread-safe API.
final class SignalRReattachedTransport: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame

    private let connection: SignalRConnectionHandler
    private let deflate: (parameters: WebSocketDeflateParameters, compression: WebSocketCompression)?

    init(
        connection: SignalRConnectionHandler,
        deflate: (parameters: WebSocketDeflateParameters, compression: WebSocketCompression)?
    ) {
        self.connection = connection
        self.deflate = deflate
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let connection = connection
        let deflate = deflate
        connection.eventLoop.execute { connection.reattach(channel, deflate: deflate) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let connection = connection
        connection.eventLoop.execute {
            connection.receive(frame)
            connection.flushIfNeeded()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let channel = context.channel
        let connection = connection
        connection.eventLoop.execute { connection.transportDropped(channel) }
        context.fireChannelInactive()
    }
}
