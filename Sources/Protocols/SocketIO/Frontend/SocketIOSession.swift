import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOWebSocket
import SocketIOWire

/// One Engine.IO session and the Socket.IO sockets multiplexed on it. It lives on one event loop (the
/// one its handshake arrived on): polling requests and WebSocket frames that arrive on other loops hop
/// to it, so everything here is confined to `eventLoop` (hence `@unchecked Sendable`). Its sockets are
/// the bus subscribers of their rooms.
final class SocketIOSession: ConnectionController, @unchecked Sendable {
    /// Where outbound packets go.
    enum Transport {
        /// Packets wait in `outbox` for the next GET.
        case polling
        /// A WebSocket answered the probe; packets wait for it until the client's `5`, polls get `noop`.
        case upgrading(SocketIOWebSocketHandler)
        case websocket(SocketIOWebSocketHandler)
        case closed
    }

    /// Why a session ends: what the pending poll and the recovery decision depend on.
    enum CloseReason {
        /// The client sent a close packet (or disconnected every socket and closed).
        case clientClosed
        /// A second GET arrived while one was pending (the spec: close the session).
        case duplicatePoll
        case pingTimeout
        /// The WebSocket dropped, or a poll never came back.
        case transportClosed
        case protocolError
        case connectTimeout
        case server(FrontendKit.CloseReason)

        /// socket.io recovers sockets whose connection was lost, not those closed on purpose.
        var isRecoverable: Bool {
            switch self {
            case .pingTimeout, .transportClosed: true
            case .server(.shutdown): true
            default: false
            }
        }
    }

    let sid: String
    let services: SocketIOServices
    let eventLoop: any EventLoop
    let metricsSlot: ProtocolMetricsSlot
    /// Registry entry and identity of the session's first socket (FrontendKit).
    var lifecycle: ConnectionLifecycle
    /// Engine.IO-level echo (the engine.io-protocol suite's `/engine.io/` server): no Socket.IO layer.
    let echoesEngineIO: Bool
    /// Credentials the handshake request carried (`Authorization`, `?token=`), used when a CONNECT has none.
    let handshakeCredentials: ClientCredentials
    private(set) var transport: Transport = .polling {
        didSet {
            if case .websocket(let handler) = transport { webSocketHandler = handler } else { webSocketHandler = nil }
            for socket in sockets { socket?.webSocket = webSocketHandler }
        }
    }
    /// The WebSocket while it is the transport (each socket keeps it too: the delivery path's one check).
    private(set) var webSocketHandler: SocketIOWebSocketHandler?
    private var heartbeat: EngineIOHeartbeat
    private var heartbeatTimer: Scheduled<Void>?
    private var connectTimer: Scheduled<Void>?
    /// Polling: packets waiting for the next GET, the GET waiting for packets.
    private var outbox: [EngineIOPacket] = []
    private var outboxBytes = 0
    /// nil as the answer: refused (400), the session is no longer polling.
    private var pendingPoll: EventLoopPromise<ByteBuffer?>?
    var assembler = SocketIOBinaryAssembler()
    /// Sockets by slot (`BusSubscription.localIndex >> 16`); nil for a slot whose socket left.
    var sockets: [SocketIOSocket?] = []
    /// RPC requests sent with an ack id, waiting for the client's answer: the reply topic and the socket.
    /// Namespaces whose CONNECT waits for a password check.
    var connecting: Set<String> = []
    var pendingReplies: [UInt64: (topic: String, socketID: String)] = [:]
    var nextReplyID: UInt64 = 0
    var needsFlush = false
    /// Publisher flow control (SocketIOSession+FlowControl.swift): the session as a subscriber that fell
    /// behind, as a publisher paused by one, and the timer that checks both while either lasts.
    var behind = CongestedSubscriber()
    var paused = PausedPublisher()
    let heldAnswers = HeldPublishAnswers()
    var flowControlTimer: RepeatedTask?

    init(
        sid: String, services: SocketIOServices, eventLoop: any EventLoop, echoesEngineIO: Bool,
        credentials: ClientCredentials, remoteAddress: SocketAddress?
    ) {
        self.sid = sid
        self.services = services
        self.eventLoop = eventLoop
        self.metricsSlot = services.metricsSlot
        self.echoesEngineIO = echoesEngineIO
        self.handshakeCredentials = credentials
        self.lifecycle = services.shared.makeLifecycle(protocolName: "socketio")
        let configuration = services.configuration
        self.heartbeat = EngineIOHeartbeat(
            interval: .milliseconds(Int64(configuration.pingIntervalMilliseconds)),
            timeout: .milliseconds(Int64(configuration.pingTimeoutMilliseconds)), now: eventLoop.now)
        lifecycle.info.remoteAddress = remoteAddress?.clientDescription
        lifecycle.info.connectedAt = Double(services.bus.clock()) / 1e9
    }

    var bus: Bus { services.shared.bus }
    var configuration: SocketIOConfiguration { services.configuration }
    var info: ConnectionInfo { _read { yield lifecycle.info } }
    var isClosed: Bool { if case .closed = transport { true } else { false } }
    var isWebSocket: Bool { if case .websocket = transport { true } else { false } }

    /// Takes a registry slot and starts the timers; false when the connection limits refuse it.
    func start(on transport: Transport) -> Bool {
        eventLoop.preconditionInEventLoop()
        guard lifecycle.admit(controller: self) == nil else { return false }
        self.transport = transport
        services.registry.insert(self)
        scheduleHeartbeat(at: heartbeat.nextDeadline)
        if !echoesEngineIO {
            connectTimer = eventLoop.scheduleTask(
                in: .milliseconds(Int64(configuration.connectTimeoutMilliseconds))
            ) { [self] in
                if sockets.allSatisfy({ $0 == nil }) { close(.connectTimeout) }
            }
        }
        let upgrades = if case .polling = transport { ["websocket"] } else { [String]() }
        send(services.handshake(sid: sid, upgrades: upgrades).packet)
        return true
    }

    /// A socket connected: the connect deadline no longer applies.
    func socketConnected() {
        connectTimer?.cancel()
        connectTimer = nil
    }

    // MARK: - Heartbeat

    private func scheduleHeartbeat(at deadline: NIODeadline) {
        heartbeatTimer?.cancel()
        heartbeatTimer = eventLoop.scheduleTask(deadline: deadline) { [self] in heartbeatFired() }
    }

    private func heartbeatFired() {
        guard !isClosed else { return }
        switch heartbeat.tick(now: eventLoop.now) {
        case .sendPing(let next):
            send(EngineIOPacket(.ping))
            flush()
            shareLiveRecords()
            scheduleHeartbeat(at: next)
        case .wait(let next):
            scheduleHeartbeat(at: next)
        case .timedOut:
            close(.pingTimeout)
        }
    }

    // MARK: - Inbound

    /// One Engine.IO packet from the client, by either transport.
    func receive(_ packet: EngineIOPacket, from handler: SocketIOWebSocketHandler?) {
        guard !isClosed else { return }
        switch packet.type {
        case .pong:
            scheduleHeartbeat(at: heartbeat.pongReceived())
        case .ping:
            // `2probe` on the upgrading WebSocket: answer on it, and end the pending poll so the client
            // can pause polling and send `5`.
            guard let handler, packet.data.readableBytesView.elementsEqual("probe".utf8) else {
                return close(.protocolError)
            }
            guard case .upgrading(let upgrading) = transport, upgrading === handler else {
                return handler.closeRefused()
            }
            handler.send(EngineIOPacket(.pong, data: packet.data))
            handler.flush()
            answerUpgradingPoll()
        case .upgrade:
            guard case .upgrading(let upgraded) = transport, upgraded === handler else { return close(.protocolError) }
            transport = .websocket(upgraded)
            if let poll = pendingPoll {
                // A poll still waiting once the upgrade is done is refused, as a later one would be.
                pendingPoll = nil
                poll.succeed(nil)
            }
            // What waited in polling form (binary attachments inside as `b<base64>`) goes as frames.
            let waiting = (try? EngineIOPayload.decode(takeOutbox(), limits: EngineIOLimits.unbounded)) ?? []
            for packet in waiting { upgraded.send(packet) }
            upgraded.flush()
        case .close:
            close(.clientClosed)
        case .message:
            if echoesEngineIO {
                send(packet)
            } else {
                socketIOMessageReceived(packet)
            }
        case .open, .noop:
            close(.protocolError)
        }
        flush()
    }

    /// A POST's body: its packets, in order; false when it was malformed (the session is then closed).
    func postReceived(_ body: ByteBuffer) -> Bool {
        switch transport {
        case .polling, .upgrading: break
        case .websocket, .closed: return false
        }
        do {
            for packet in try EngineIOPayload.decode(body, limits: services.engineLimits) {
                receive(packet, from: nil)
                if isClosed { break }
            }
            return true
        } catch {
            close(.protocolError)
            return false
        }
    }

    /// A GET: answered at once when packets wait, else when the next one is sent; nil as the answer:
    /// refused (the session is not polling any more). During an upgrade a poll gets a `noop` within
    /// 100 ms, so the client can pause polling and finish the upgrade (engine.io's `check`).
    func pollReceived(closeFuture: EventLoopFuture<Void>?) -> EventLoopFuture<ByteBuffer?> {
        switch transport {
        case .polling, .upgrading: break
        case .websocket, .closed: return eventLoop.makeSucceededFuture(nil)
        }
        if heartbeat.hasTimedOut(now: eventLoop.now) {
            close(.pingTimeout)
            return eventLoop.makeSucceededFuture(nil)
        }
        if pendingPoll != nil {
            close(.duplicatePoll)
            return eventLoop.makeSucceededFuture(nil)
        }
        if case .polling = transport, !outbox.isEmpty { return eventLoop.makeSucceededFuture(takeOutbox()) }
        let promise = eventLoop.makePromise(of: ByteBuffer?.self)
        pendingPoll = promise
        if case .upgrading = transport {
            eventLoop.scheduleTask(in: .milliseconds(100)) { [self] in answerUpgradingPoll() }
        }
        closeFuture?.whenComplete { [self] _ in
            eventLoop.execute {
                // The client went away mid-poll: the packets stay for the next poll.
                if let pending = self.pendingPoll, pending.futureResult === promise.futureResult {
                    self.pendingPoll = nil
                    promise.fail(ChannelError.ioOnClosedChannel)
                }
            }
        }
        return promise.futureResult
    }

    private func answerUpgradingPoll() {
        guard case .upgrading = transport, let poll = pendingPoll else { return }
        pendingPoll = nil
        poll.succeed(EngineIOPayload.encode([EngineIOPacket(.noop)]))
    }

    private func takeOutbox() -> ByteBuffer {
        var body = ByteBuffer()
        body.reserveCapacity(outboxBytes + outbox.count)
        EngineIOPayload.encode(outbox, into: &body)
        outbox.removeAll(keepingCapacity: outbox.count < 64)
        outboxBytes = 0
        return body
    }

    /// A WebSocket with this session's id opened: the upgrade starts (polls now get `noop`, packets wait
    /// for the WebSocket). False when the session is not polling (already upgraded or upgrading).
    func upgradeStarted(_ handler: SocketIOWebSocketHandler) -> Bool {
        guard case .polling = transport else { return false }
        transport = .upgrading(handler)
        return true
    }

    /// The WebSocket that answered the probe went away before the client's `5`: polling goes on.
    func upgradeAbandoned() {
        if case .upgrading = transport { transport = .polling }
    }

    // MARK: - Outbound

    /// Queues or writes one packet (not flushed).
    func send(_ packet: EngineIOPacket) {
        switch transport {
        case .websocket(let handler):
            handler.send(packet)
        case .polling, .upgrading:
            outbox.append(packet)
            outboxBytes += packet.data.readableBytes + 2
        case .closed:
            return
        }
        needsFlush = true
    }

    /// Writes a pre-encoded delivery (`encodedEvent`): WebSocket frames, or polling packet text. False when
    /// it went nowhere: the session closed, or polling text met a WebSocket session (a socket that ended on
    /// it while a delivery batch was under way).
    @discardableResult
    func sendEncoded(_ bytes: ByteBuffer, webSocket: Bool) -> Bool {
        switch transport {
        case .websocket(let handler) where webSocket:
            handler.sendFrame(bytes)
        case .polling, .upgrading:
            // The text starts with the Engine.IO type: it is the payload piece as is.
            outbox.append(
                EngineIOPacket(
                    .message, data: bytes.getSlice(at: bytes.readerIndex + 1, length: bytes.readableBytes - 1)!))
            outboxBytes += bytes.readableBytes
        case .websocket, .closed:
            return false
        }
        needsFlush = true
        return true
    }

    /// Whether a polling client is so far behind that the slow-consumer policy applies.
    var isBackedUp: Bool {
        switch transport {
        case .polling, .upgrading: outboxBytes > configuration.maxBufferedBytes
        case .websocket(let handler): !handler.isWritable
        case .closed: true
        }
    }

    func flush() {
        guard needsFlush else { return }
        needsFlush = false
        switch transport {
        case .websocket(let handler):
            handler.flush()
        case .upgrading:
            // Packets wait for the WebSocket.
            break
        case .polling:
            if let poll = pendingPoll, !outbox.isEmpty {
                pendingPoll = nil
                poll.succeed(takeOutbox())
            }
        case .closed:
            break
        }
    }

    // MARK: - Closing

    /// Ends the session once: every socket leaves (kept for recovery when the transport was lost), the
    /// pending poll is answered, the WebSocket is closed, the registry forgets the session.
    func close(_ reason: CloseReason) {
        guard !isClosed else { return }
        let previous = transport
        for slot in sockets.indices {
            guard let socket = sockets[slot] else { continue }
            endSocket(slot: slot, keepForRecovery: reason.isRecoverable && socket.canRecover)
        }
        transport = .closed
        flowControlEnded()
        heartbeatTimer?.cancel()
        connectTimer?.cancel()
        services.registry.remove(sid)
        lifecycle.end(NoKeepAlive.shared, bus: bus, subscriptions: [])
        if let poll = pendingPoll {
            pendingPoll = nil
            // A client's own close ends its poll with a noop; anything else tells it the session closed.
            let packet = reason == .clientClosed ? EngineIOPacket(.noop) : EngineIOPacket(.close)
            poll.succeed(EngineIOPayload.encode([packet]))
        }
        outbox.removeAll()
        switch previous {
        case .websocket(let handler), .upgrading(let handler):
            handler.closeSession(reason)
        case .polling, .closed:
            break
        }
    }

    func requestClose(_ reason: FrontendKit.CloseReason) {
        eventLoop.execute { self.close(.server(reason)) }
    }
}

extension SocketIOSession.CloseReason: Equatable {}

/// The session joins no keep-alive sweeper (its heartbeat is its own timer); `ConnectionLifecycle.end`
/// wants a participant to remove.
final class NoKeepAlive: KeepAliveParticipant, @unchecked Sendable {
    static let shared = NoKeepAlive()
    var keepAliveSlot = -1
    func keepAliveTick(now: NIODeadline) {}
}
