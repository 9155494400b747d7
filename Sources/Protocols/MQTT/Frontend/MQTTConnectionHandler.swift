import Atomics
import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore
import Storage

/// One MQTT network connection, over TCP or (through `WebSocketByteStreamHandler`) WebSocket: reads the
/// byte stream into packets, asks the state machine, and runs its decisions against the session and
/// the bus. Confined to its event loop; `requestClose` hops onto it (hence `@unchecked Sendable`).
final class MQTTConnectionHandler: BudgetedInput, KeepAliveParticipant, ConnectionController,
    @unchecked Sendable
{
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let services: MQTTServices
    /// Copied out of `services` for the per-message path.
    let metricsSlot: ProtocolMetricsSlot
    /// `services.payloadSchemas`, read on every publish: unowned (services keeps it) and held here, as
    /// the path through `services` costs reference counts per publish.
    unowned(unsafe) let payloadSchemas: PayloadSchemas
    let transport: String
    var machine: MQTTConnectionStateMachine
    /// Registry entry, keep-alive, identity (what it may publish and subscribe to, set at CONNECT) and
    /// the one clean-up (FrontendKit).
    var lifecycle: ConnectionLifecycle
    /// Set when a connection limit refused this connection: CONNECT is answered with the refusal.
    var admissionRefusal: AdmissionRefusal?
    var context: ChannelHandlerContext?
    /// Publisher flow control: the subscribers that asked this connection to stop reading, and this
    /// connection as a subscriber that fell behind (`CongestedSubscriber`).
    private var paused = PausedPublisher()
    var behind = CongestedSubscriber()
    /// The shard's loop (`handlerAdded` sets the shard to the channel's), not stored a second time (issue 25).
    var eventLoop: any EventLoop { shard.eventLoop }
    /// The bus's shard of `eventLoop` (set with it), where this connection publishes.
    private(set) var shard: LoopShard
    /// When the packets being handled arrived: read once per batch of input, not per PUBLISH.
    var readTime: UInt64 = 0
    /// The last topic published to, its name as the client sent it, and that it may publish there:
    /// publishers mostly repeat themselves, and validating a topic costs more than comparing it.
    var lastPublishName = ""
    var lastPublishTopic: Topic?
    /// Bytes read and not yet decoded; held while credentials are checked or the session is fetched.
    var inbound = InboundBuffer()
    /// The rest of the input waits for the loop's next turn (`BudgetedInput.deferRest`).
    var inputDeferred = false
    /// The CONNECT's password check (if slow) has run off the loop.
    var credentialsPrepared = false
    var session: MQTTSession?
    /// This connection holds a claim on its client's session among instances sharing the database that
    /// no session object carries yet (between the claim and the session it creates): its client id.
    var pendingClaim: String?
    /// The negotiated version, cached for the delivery path.
    var version: MQTTProtocolVersion?
    var writable = true
    var needsFlush = false
    private var closing = false
    /// Half-closes TCP on a server-initiated close instead of closing outright (see `closeConnection`).
    private let lingersOnClose: Bool
    /// Closes the socket for good when a lingering client does not close it first.
    private var lingerTask: Scheduled<Void>?
    /// What the end of the connection needs of what CONNECT settled — the will and the session expiry —,
    /// updated by the client's DISCONNECT (no will unless 0x04); kept after the state machine has closed.
    /// Not the whole `Negotiated`, which the machine holds anyway (~70 B more per connection; issue 25).
    var ending: (will: MQTTWill?, sessionExpirySeconds: UInt32)?
    /// The client's Receive Maximum and Maximum Packet Size, copied out of `negotiated` for the delivery path.
    var outboundWindow = 65_535
    var outboundMaximumPacketSize = Int.max
    /// Inflight PUBLISH packets of a resumed session not yet resent on this connection, in their original
    /// order, because the client's Receive Maximum is now smaller than what was in flight (`resendInflight`).
    var heldResends: [UInt16] = []
    var heldResendIndex = 0
    /// Topic aliases towards the client (5.0), at most its Topic Alias Maximum, for this connection only.
    var outboundAliases = MQTTOutboundTopicAliases(maximum: 0)
    /// The loop's keep-alive sweeper's index of this connection (its deadlines live in `machine`).
    var keepAliveSlot = -1
    /// Counts for `$SYS/`, added to the shared atomics once per flush.
    var pendingStatistics = MQTTStatistics.Pending()
    /// Bytes not yet handed to the channel, in order: control packets and PUBLISH packets up to
    /// `copiedPublishLimit` (see `write` and `writePublish`). Handed over and flushed once per batch, and
    /// reused when the socket took it at once (as the NATS handler's buffer).
    var out = ByteBuffer()
    /// Publishes waiting for their turn: a stored one waits for its commit, and everything the client
    /// published after it waits behind it, so routing and acknowledgements keep the client's order.
    var pendingPublishes: [PendingPublish] = []
    var pendingPublishHead = 0
    /// Outbound QoS 2 PUBLISH packets of a persistent session held until their delivery record (packet id)
    /// is stored, and whatever follows them, in order: after a crash the client gets them again with the
    /// same identifier ([MQTT-4.4.0-1]), so a QoS 2 message is never taken for a new one.
    var gatedWrites: [(bytes: ByteBuffer, ready: Bool)] = []
    var gatedHead = 0
    /// A `flushSoon` is pending.
    var flushScheduled = false

    init(services: MQTTServices, transport: String) {
        self.services = services
        self.payloadSchemas = services.payloadSchemas
        self.transport = transport
        // Only a plain byte stream half-closes: over WebSocket the adapter runs the closing handshake.
        self.lingersOnClose = transport == "tcp"
        self.machine = MQTTConnectionStateMachine(settings: services.machineSettings)
        self.lifecycle = services.shared.makeLifecycle(protocolName: "mqtt")
        self.metricsSlot = services.shared.metricsSlot
        self.shard = services.bus.shards[0]
    }

    var bus: Bus { services.shared.bus }
    var info: ConnectionInfo { _read { yield lifecycle.info } }
    var identity: ClientIdentity { _read { yield lifecycle.identity } }
    var limits: MQTTLimits { services.configuration.limits }
    var topicLimits: TopicLimits { bus.configuration.topicLimits }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        shard = bus.shard(for: context.eventLoop)
        writable = context.channel.isWritable
        if let refusal = lifecycle.admit(
            remoteAddress: context.channel.remoteAddress, now: bus.clock(), controller: self)
        {
            // Refused by a connection limit: the CONNACK says which (MQTTConnectionHandler+Connect), so the
            // CONNECT is awaited, for at most the connect timeout.
            admissionRefusal = refusal
            let channel = context.channel
            context.eventLoop.scheduleTask(in: .seconds(Int64(services.configuration.connectTimeoutSeconds))) {
                channel.close(promise: nil)
            }
            return
        }
        machine.connectionOpened(
            now: context.eventLoop.now, connectTimeout: .seconds(Int64(services.configuration.connectTimeoutSeconds)))
        lifecycle.joinKeepAlive(self, on: context.eventLoop)
    }

    func connectionEnded() {
        // The session holds the subscriptions and outlives the connection (releaseSession).
        guard lifecycle.end(self, bus: bus, subscriptions: EmptyCollection()) else { return }
        machine.closed()
        lingerTask?.cancel()
        lingerTask = nil
        releaseSession()
        behind.caughtUp(lifecycle.info.id, registry: services.shared.connections)
        services.statistics.add(&pendingStatistics)
        if version != nil { services.statistics.clientsConnected.wrappingDecrement(ordering: .relaxed) }
    }

    /// The session is left as the connection ends (expiry and will start now), or as soon as the server
    /// decides to close, so nothing is routed to a connection that is only lingering.
    private func releaseSession() {
        if let session, session.connection === self {
            let will = ending?.will.flatMap { makeWillMessage($0, clientID: session.clientID) }
            session.connectionLost(
                expirySeconds: ending?.sessionExpirySeconds ?? 0, will: will,
                willDelaySeconds: ending?.will?.properties.willDelayInterval ?? 0)
        }
        session = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable {
            // Drained to the low water mark: the publishers it paused go on, and it is no longer given up on.
            if behind.isBehind { behind.caughtUp(lifecycle.info.id, registry: services.shared.connections) }
            drainQueue()
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Inbound bytes

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After a server-initiated close, what the client still sends is read and dropped.
        guard !closing else { return }
        var bytes = unwrapInboundIn(data)
        machine.bytesReceived()
        pendingStatistics.bytesReceived += bytes.readableBytes
        inbound.append(&bytes)
        processInbound()
        shard.flushWritten()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Decodes and handles every whole packet in `inbound`, or those its `ReadBudget` allows (the rest
    /// goes on in `deferRest`).
    func processInbound() {
        // A paused publisher still decodes what it has read (its pause stops the reading): the deliveries
        // that brings are what lets a subscriber that stays behind reach its deadline and be cut off.
        guard !inputDeferred else { return }
        // One clock read per batch: every packet in it arrived at the same time.
        readTime = bus.clock()
        var budget = ReadBudget(now: readTime)
        while !machine.isClosed, var buffer = inbound.next() {
            let packet: MQTTPacket?
            do {
                packet = try MQTTPacketDecoder.decode(&buffer, version: version, limits: limits)
            } catch {
                return fail(error)
            }
            // Kept before acting: the packet may hold input or re-enter this loop.
            inbound.keep(buffer)
            guard let packet else { return }
            handle(packet)
            if budget.spend(clock: bus.clock), inbound.readableBytes > 0 { return deferRest() }
        }
        // No flush here: reads flush once in channelReadComplete; other callers flush themselves.
    }

    // MARK: - BudgetedInput

    var readingHeld: Bool { paused.isPaused }
    var waitingInputBytes: Int { inbound.readableBytes }

    func decodeWaitingInput() {
        guard !machine.isClosed else { return }
        processInbound()
        shard.flushWritten()
        flushIfNeeded()
    }

    private func handle(_ packet: MQTTPacket) {
        do {
            switch packet {
            case .connect(let connect): connectReceived(connect)
            case .publish(let publish): try publishReceived(publish)
            case .ack(let ack): try ackReceived(ack)
            case .subscribe(let subscribe): subscribeReceived(subscribe)
            case .unsubscribe(let unsubscribe): unsubscribeReceived(unsubscribe)
            case .pingReq: write(.pingResp)
            case .disconnect(let disconnect):
                let updated = try machine.disconnectReceived(disconnect)
                ending = (updated.will, updated.sessionExpirySeconds)
                context?.close(promise: nil)
            case .auth:
                // No enhanced authentication method was agreed, so AUTH is a protocol error ([MQTT-4.12.0-7]).
                throw MQTTError.protocolError("AUTH without an authentication method")
            case .connAck, .subAck, .pingResp:
                // Server-to-client packets from a client.
                throw MQTTError.protocolError("\(packet.type) is sent by servers only")
            }
        } catch let error as MQTTError {
            fail(error)
        } catch {
            fail(.malformedPacket("\(error)"))
        }
    }

    // MARK: - Running the state machine's actions

    /// Does what the state machine decided: the one place its control-plane actions meet the channel,
    /// the session and the bus.
    func run(_ action: MQTTConnectionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .refuseConnect(let connAck, let version):
            write(.connAck(connAck), as: version)
            closeConnection()
        case .sendDisconnect(let disconnect):
            write(.disconnect(disconnect))
            closeConnection()
        case .close:
            closeConnection()
        case .subscribe(let subscription):
            guard let session, let filter = try? TopicFilter(subscription.options.filter, limits: topicLimits)
            else { return }
            _ = session.subscribe(filter, subscription)
        case .unsubscribe(let filter):
            _ = session?.unsubscribe(filter)
        case .sendSubAck(let subAck, let retained):
            sendSubAck(subAck, retained: retained)
        }
    }

    // MARK: - Keep-alive and closing

    func keepAliveTick(now: NIODeadline) {
        // Asked only once connected: the lifecycle counts an expiry once and then forgets it.
        let expired = version != nil && lifecycle.credentialsExpired(now: bus.clock())
        run(machine.tick(now: now, credentialsExpired: expired))
        out.releaseStorageIfEmpty()
        if paused.isPaused, paused.expire(now: bus.clock()) { resumeInput() }
        // Publishers paused for this subscriber may bring nothing more to notice its deadline: the tick does.
        behind.observe(context?.channel, unflushed: out.readableBytes, now: bus.clock())
        if behind.since != nil, behind.isPastDeadline(now: bus.clock(), deadline: services.congestionBounds.deadline) {
            behind.giveUp(lifecycle.info.id, registry: services.shared.connections)
        }
    }

    /// A delivery to this connection while it is over its soft limit (not writable): true when it is
    /// written all the same, its publisher paused (`CongestedSubscriber`); false past the deadline or the
    /// slack, when the publishers go on and QoS 0 is dropped (QoS 1/2 wait in the session's queue) until the
    /// client drains.
    func admitWhileBehind(_ message: BusMessage) -> Bool {
        // MQTT publishes carry the client identifier: the client's own never pause it.
        let publisherID = message.publisherID == session?.clientID ? nil : message.publisherID
        let admission = behind.admit(
            bytes: message.payload.readableBytes, publishedAt: message.timestamp, from: publisherID,
            to: lifecycle.info.id, now: bus.clock(),
            bounds: services.congestionBounds, registry: services.shared.connections)
        guard admission == .refuse else { return true }
        if !behind.isGivenUp { behind.giveUp(lifecycle.info.id, registry: services.shared.connections) }
        return false
    }

    /// Publisher flow control: a subscriber this connection's publishes feed fell behind, or caught up
    /// (`CongestedSubscriber`); the socket is not read while any is behind.
    func publishingPaused(_ paused: Bool, by subscriberID: String) {
        eventLoop.execute {
            guard self.paused.apply(paused, by: subscriberID, now: self.bus.clock()) != nil else { return }
            self.resumeInput()
        }
    }

    func requestClose(_ reason: CloseReason) {
        eventLoop.execute {
            // FrontendKit's reasons as MQTT's (their codes are decided in MQTTWire, `MQTTReasonCode.forError`).
            let mqttReason: MQTTError =
                switch reason {
                case .shutdown:
                    .serverShuttingDown(serverReference: self.services.configuration.settings.serverReference)
                case .administrative: .administrativeAction
                case .slowConsumer: .slowConsumer
                case .keepAliveTimeout: .keepAliveTimeout
                case .takenOver: .sessionTakenOver
                }
            self.run(self.machine.closeRequested(mqttReason))
        }
    }

    /// A violation, or a failure on our side: 5.0 gets DISCONNECT with the reason code, 3.1.1 a closed
    /// connection (the machine decides).
    func fail(_ error: MQTTError) {
        run(machine.errorHappened(error))
    }

    /// Closes after what was written (DISCONNECT, a refusing CONNACK) has been flushed. Over TCP the
    /// output side is shut down and input is read and dropped until the client closes, for at most
    /// `closeLingerSeconds`: closing a socket with unread input makes the kernel send RST, and a client
    /// still sending (PUBREL, pipelined PUBLISHes) would then lose our last packet — and with it the
    /// reason code — or fail writing before it reads it.
    func closeConnection() {
        guard !closing else { return }
        closing = true
        machine.closed()
        releaseSession()
        inbound.removeAll()
        writeOut()
        guard let context else { return }
        let channel = context.channel
        needsFlush = false
        let linger = services.configuration.closeLingerSeconds
        guard lingersOnClose, linger > 0 else {
            context.writeAndFlush(NIOAny(ByteBuffer())).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        lingerTask = context.eventLoop.scheduleTask(in: .seconds(Int64(linger))) { channel.close(promise: nil) }
        context.writeAndFlush(NIOAny(ByteBuffer())).whenComplete { _ in
            // The client's EOF then closes the channel (remote half-closure is not enabled).
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        }
    }

    // MARK: - Writing

    /// Control packets (acknowledgements, SUBACK, PINGRESP …) are collected in `out` and handed to the
    /// channel at the flush, so a burst of PUBACKs costs one pipeline write.
    func write(_ packet: MQTTPacket, as explicitVersion: MQTTProtocolVersion? = nil) {
        guard context != nil else { return }
        let size = packet.write(version: explicitVersion ?? version ?? .v5, to: &out)
        pendingStatistics.bytesSent += size
        needsFlush = true
    }

    /// PUBLISH packets up to this size are copied into `out`; larger ones are handed to the channel as
    /// they are (no copy of a large payload). Copying a small packet costs less than the channel's
    /// per-write bookkeeping (a pending-write entry, an iovec, a reference count each).
    static let copiedPublishLimit = 4096
    /// Past this `out` is given back after a flush instead of kept for reuse.
    static let keptOutboundCapacity = 64 << 10

    /// Writes a PUBLISH now, or behind held ones.
    @inline(__always)
    func writePublish(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        if gatedHead < gatedWrites.count {
            gatedWrites.append((bytes, true))
            return
        }
        if bytes.readableBytes <= Self.copiedPublishLimit {
            out.writeImmutableBuffer(bytes)
        } else {
            writeOut()
            context.write(NIOAny(bytes), promise: nil)
        }
        needsFlush = true
    }

    /// Whether a PUBLISH may go straight into `out` now (none is held for its delivery record).
    @inline(__always)
    var canWriteDirectly: Bool { gatedHead == gatedWrites.count }

    /// Holds a PUBLISH until its delivery record is stored.
    func writeWhenRecorded(_ bytes: ByteBuffer, session: MQTTSession, sequence: UInt64, packetID: UInt16) {
        gatedWrites.append((bytes, false))
        session.recordDelivery(sequence: sequence, packetID: packetID, .sent) { [self] _ in
            // Records complete in order: this is the oldest one still held.
            if let index = gatedWrites[gatedHead...].firstIndex(where: { !$0.ready }) {
                gatedWrites[index].ready = true
            }
            while gatedHead < gatedWrites.count, gatedWrites[gatedHead].ready {
                let bytes = gatedWrites[gatedHead].bytes
                gatedHead += 1
                guard let context else { continue }
                writeOut()
                context.write(NIOAny(bytes), promise: nil)
                needsFlush = true
            }
            if gatedHead == gatedWrites.count {
                gatedWrites.removeAll(keepingCapacity: true)
                gatedHead = 0
            }
            flushSoon()
        }
    }

    /// Flushes once after the task that is running now: store completions arrive many to a task, and each
    /// flush is a system call.
    func flushSoon() {
        guard !flushScheduled else { return }
        flushScheduled = true
        eventLoop.execute { [self] in
            flushScheduled = false
            flushIfNeeded()
        }
    }

    /// Hands what `out` collected to the channel (before a PUBLISH written on its own, and at a close).
    func writeOut() {
        guard out.readableBytes > 0, let context else { return }
        context.write(NIOAny(out), promise: nil)
        out.clear()
    }

    func flushIfNeeded() {
        guard needsFlush else { return }
        needsFlush = false
        if let context {
            if out.readableBytes > 0 {
                context.write(NIOAny(out), promise: nil)
                context.flush()
                if out.capacity > Self.keptOutboundCapacity {
                    out = context.channel.allocator.buffer(capacity: 256)
                } else {
                    // When the socket took the bytes at once the storage is ours again and is reused as is.
                    out.clear()
                }
            } else {
                context.flush()
            }
        }
        // The $SYS counters are shared by every loop: added once per flush, not per packet.
        services.statistics.add(&pendingStatistics)
    }

    func flushDeliveries() {
        flushIfNeeded()
    }
}
