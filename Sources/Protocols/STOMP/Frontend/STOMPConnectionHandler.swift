import Atomics
import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import STOMPWire

/// One STOMP connection (TCP, or WebSocket through `WebSocketByteStreamHandler`): decodes frames, runs
/// the session state machine, and runs a connected session's frames against the bus (`/topic/`) and the
/// queue broker (`/queue/`, `/exchange/`, …). What it writes goes into one outbound buffer, flushed once
/// per read and once per delivery batch. Confined to its event loop; `requestClose` hops onto it.
final class STOMPConnectionHandler: BudgetedInput, BusSubscriber, KeepAliveParticipant,
    ConnectionController, @unchecked Sendable
{
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Past this the outbound buffer is given back after a flush instead of kept for reuse.
    static let keptOutboundCapacity = 64 << 10

    let services: STOMPServices
    /// Publisher flow control: the subscribers that asked this connection to stop reading, and this
    /// connection as a `/topic/` subscriber that fell behind (`CongestedSubscriber`).
    private var paused = PausedPublisher()
    var behind = CongestedSubscriber()
    private(set) var eventLoop: any EventLoop
    var context: ChannelHandlerContext?
    var keepAliveSlot = -1
    let metricsSlot: ProtocolMetricsSlot
    var deliveryMark: UInt64 = 0
    var machine: STOMPSessionStateMachine
    var lifecycle: ConnectionLifecycle
    var shard: LoopShard
    var inbound = InboundBuffer()
    /// How far the decoder got through the partial frame at the front of `inbound`, so a frame arriving in
    /// many reads is looked through once (`STOMPFrameDecoder.Progress`).
    var decodeProgress = STOMPFrameDecoder.Progress()
    /// The rest of the input waits for the loop's next turn (`BudgetedInput.deferRest`).
    var inputDeferred = false
    var out = ByteBuffer()
    /// Shared with the queue consumers: false while the socket's outbound buffer is over its mark.
    let writable = ManagedAtomic(true)
    private var started = false
    /// Inside `processInbound`: what is written is flushed once at the end of the read.
    private(set) var isReading = false

    /// Subscriptions by id; direct bus ones also by slot (`BusSubscription.localIndex`).
    var subscriptions: [String: STOMPSubscription] = [:]
    var slots: [STOMPSubscription?] = []
    var freeSlots: [Int] = []
    /// Deliveries waiting for ACK/NACK, by delivery tag.
    var pendingAcks: [UInt64: STOMPPendingAck] = [:]
    var nextDeliveryTag: UInt64 = 1
    /// Open transactions: their SENDs, ACKs and NACKs, run on COMMIT.
    var transactions: [String: [STOMPFrame]] = [:]
    /// `/temp-queue/<name>` → the private queue made for it.
    var temporaryQueues: [String: String] = [:]
    /// Queue names this connection declared through `/queue/` (declared once, then routed to).
    var declaredQueues: Set<String> = []
    /// Exchanges this login may send to (`amq.default` for queues), as found on SEND.
    var writableExchanges: Set<String> = []
    /// ACKs and NACKs, sent once per read (one hop per queue per read).
    var settlements: [ObjectIdentifier: STOMPSettlements] = [:]
    /// Publishes for queues, sent once per read (one hop per queue per read).
    var outbox: [ObjectIdentifier: (host: QueueHost, publications: [QueuePublication])] = [:]
    /// Where this connection's SENDs to queues went, while the broker's routing table stays as it was.
    var routes = QueueRouteCache()
    /// Counted per read.
    var publishedInRead = 0
    var publishedBytesInRead = 0
    /// The topic and destination line last delivered (shared by the subscriptions that see it).
    var lastDeliveredTopic = Topic(trusted: "")
    var lastDeliveredDestination = ""
    /// The topic of the last `/topic/` SEND, and its routing key.
    var lastSendKey = ""
    var lastSendTopic: Topic?

    init(services: STOMPServices) {
        self.services = services
        self.metricsSlot = services.metricsSlot
        self.shard = services.shared.bus.shards[0]
        self.eventLoop = shard.eventLoop
        self.machine = STOMPSessionStateMachine(configuration: Self.machineConfiguration(services), now: .now())
        self.lifecycle = services.shared.makeLifecycle(protocolName: "stomp")
    }

    private static func machineConfiguration(_ services: STOMPServices) -> STOMPSessionStateMachine.Configuration {
        var configuration = STOMPSessionStateMachine.Configuration()
        configuration.limits = services.configuration.limits
        configuration.connectTimeout = .seconds(Int64(services.configuration.connectTimeoutSeconds))
        return configuration
    }

    var bus: Bus { services.shared.bus }
    var broker: QueueBroker { services.broker }
    var limits: STOMPLimits { services.configuration.limits }
    var connectionID: String { lifecycle.info.id }
    var identity: ClientIdentity { _read { yield lifecycle.identity } }
    var version: STOMPVersion { machine.session?.version ?? .v1_0 }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        eventLoop = context.eventLoop
        shard = bus.shard(for: context.eventLoop)
        machine = STOMPSessionStateMachine(configuration: Self.machineConfiguration(services), now: eventLoop.now)
        writable.store(context.channel.isWritable, ordering: .relaxed)
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        if lifecycle.admit(remoteAddress: context.channel.remoteAddress, now: bus.clock(), controller: self) != nil {
            // Refused by a connection limit before CONNECT: an ERROR says why.
            return fail(STOMPError("Connection refused", detail: "The server has reached a connection limit.\n"))
        }
        lifecycle.joinKeepAlive(self, on: context.eventLoop)
    }

    func connectionEnded() {
        guard lifecycle.end(self, bus: bus, subscriptions: slots.lazy.compactMap { $0?.busSubscription }) else {
            return
        }
        sendOutbox()
        behind.caughtUp(lifecycle.info.id, registry: services.shared.connections)
        // Consumers end (their unacknowledged messages go back to their queues); private queues go.
        for subscription in subscriptions.values { end(subscription) }
        subscriptions.removeAll()
        slots.removeAll()
        pendingAcks.removeAll()
        transactions.removeAll()
        for host in broker.queues(ownedBy: connectionID) {
            host.perform { $0.delete() }
        }
        inbound.removeAll()
        decodeProgress = STOMPFrameDecoder.Progress()
    }

    // MARK: - Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        machine.dataReceived(now: eventLoop.now)
        inbound.append(&bytes)
        processInbound()
    }

    /// Decodes and runs every whole frame waiting, until input is held (credentials being checked, an
    /// answer from a queue on another loop) or the connection closes.
    func processInbound() {
        // A paused publisher still decodes what it has read (its pause stops the reading): the deliveries
        // that brings are what lets a subscriber that stays behind reach its deadline and be cut off.
        guard !inputDeferred else { return }
        isReading = true
        defer { isReading = false }
        var budget = ReadBudget(now: bus.clock())
        while !machine.isClosing, var buffer = inbound.next() {
            let frame: STOMPFrame?
            do {
                STOMPFrameDecoder.skipHeartBeats(&buffer)
                frame = try STOMPFrameDecoder.decode(
                    &buffer, escaping: machine.escaping, limits: limits, progress: &decodeProgress)
            } catch {
                inbound.keep(ByteBuffer())
                fail(error)
                break
            }
            inbound.keep(buffer)
            guard let frame else { break }
            frameReceived(frame)
            if budget.spend(clock: bus.clock), inbound.readableBytes > 0 {
                deferRest()
                break
            }
        }
        sendSettlements()
        sendOutbox()
        if publishedInRead > 0 {
            shard.stats.published(slot: metricsSlot, messages: publishedInRead, bytes: publishedBytesInRead)
            publishedInRead = 0
            publishedBytesInRead = 0
        }
        shard.flushWritten()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOut()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let isWritable = context.channel.isWritable
        writable.store(isWritable, ordering: .relaxed)
        if isWritable {
            if behind.isBehind { behind.caughtUp(lifecycle.info.id, registry: services.shared.connections) }
            for subscription in subscriptions.values {
                if case .queue(let host, _)? = subscription.source { host.resume() }
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func frameReceived(_ frame: STOMPFrame) {
        switch machine.frameReceived(frame) {
        case .none:
            break
        case .authenticate(let request):
            authenticate(request)
        case .handle(let frame):
            do throws(STOMPError) {
                try handle(frame, transaction: frame.headers["transaction"])
            } catch {
                var error = error
                if error.receiptID == nil { error.receiptID = frame.receipt }
                fail(error)
            }
        case .disconnect(let receipt):
            if let receipt { writeReceipt(receipt) }
            closeAfterWriting()
        case .fail(let error):
            // The machine is closing already.
            writeErrorAndClose(error)
        }
    }

    /// A connected session's frame. Inside a transaction SEND, ACK and NACK wait for COMMIT.
    func handle(_ frame: STOMPFrame, transaction: String?) throws(STOMPError) {
        switch frame.command {
        case .send, .ack, .nack:
            if let transaction {
                guard transactions[transaction] != nil else { throw Self.badTransaction(transaction) }
                transactions[transaction]!.append(frame)
                if let receipt = frame.receipt { writeReceipt(receipt) }
                return
            }
            switch frame.command {
            case .send:
                // A SEND's receipt waits for the queues that take it (`publishToQueues`).
                if try send(frame) { return }
            case .ack: try acknowledge(frame, accept: true)
            default: try acknowledge(frame, accept: false)
            }
        case .subscribe:
            try subscribe(frame)
        case .unsubscribe:
            try unsubscribe(frame)
        case .begin:
            let name = try frame.required("transaction")
            guard transactions[name] == nil else {
                throw STOMPError(
                    "Transaction already active", detail: "Transaction \(name) is already active.\n")
            }
            transactions[name] = []
        case .commit, .abort:
            let name = try frame.required("transaction")
            guard let frames = transactions.removeValue(forKey: name) else { throw Self.badTransaction(name) }
            if frame.command == .commit {
                for inner in frames {
                    var inner = inner
                    // Their receipts went out when they were queued.
                    inner.headers.remove("receipt")
                    try handle(inner, transaction: nil)
                }
            }
        default:
            return
        }
        if let receipt = frame.receipt { writeReceipt(receipt) }
    }

    static func badTransaction(_ name: String) -> STOMPError {
        STOMPError("Bad transaction", detail: "Invalid transaction identifier: \(name)\n")
    }

    // MARK: - CONNECT

    /// The CONNECT's login and passcode through the shared authenticator (a JWT works as the passcode;
    /// guest/guest or no login is the anonymous client when the server allows one). A slow check runs
    /// off the loop with input held.
    private func authenticate(_ request: STOMPSessionStateMachine.ConnectRequest, prepared: Bool = false) {
        let credentials = ClientCredentials.brokerLogin(
            username: request.login ?? "", password: request.passcode ?? "", clientID: connectionID,
            allowsAnonymous: services.authenticator.allowsAnonymous,
            certificateSubject: context?.channel.verifiedClientCommonName
        ).credentials
        if !prepared, let preparing = services.authenticator.prepare(credentials, on: eventLoop) {
            inbound.hold()
            preparing.whenComplete { [self] _ in
                inbound.release()
                guard context != nil else { return }
                authenticate(request, prepared: true)
                processInbound()
                flushOut()
            }
            return
        }
        let accepted: Bool
        switch services.authenticator.authenticate(credentials) {
        case .accepted(let identity):
            lifecycle.identity = identity
            let user = identity.userID
            lifecycle.update { $0.userID = user }
            accepted = true
        case .refused:
            services.counters.countAuthenticationFailure()
            accepted = false
        }
        switch machine.authenticated(accepted, sessionID: "session-" + connectionID, serverVersion: services.version) {
        case .sendConnected(let headers):
            write(STOMPFrame(.connected, headers: headers))
            if let receipt = request.receipt { writeReceipt(receipt) }
        case .fail(let error):
            writeErrorAndClose(error)
        }
    }

    // MARK: - BudgetedInput

    var readingHeld: Bool { paused.isPaused }
    var waitingInputBytes: Int { inbound.readableBytes }

    func decodeWaitingInput() {
        processInbound()
        flushOut()
    }

    // MARK: - Keep-alive and closing

    /// Publisher flow control: a subscriber this connection's publishes feed fell behind, or caught up
    /// (`CongestedSubscriber`); the socket is not read while any is behind.
    func publishingPaused(_ paused: Bool, by subscriberID: String) {
        eventLoop.execute {
            guard self.paused.apply(paused, by: subscriberID, now: self.bus.clock()) != nil else { return }
            self.resumeInput()
        }
    }

    func keepAliveTick(now: NIODeadline) {
        out.releaseStorageIfEmpty()
        if paused.isPaused, paused.expire(now: bus.clock()) { resumeInput() }
        // Publishers paused for this subscriber may bring nothing more to notice its deadline: the tick does.
        behind.observe(context?.channel, unflushed: out.readableBytes, now: bus.clock())
        if !machine.isClosing, behind.isPastDeadline(now: bus.clock(), deadline: services.congestionBounds.deadline) {
            _ = slowConsumer()
            return
        }
        if lifecycle.credentialsExpired(now: bus.clock()) {
            return fail(STOMPError("Access refused", detail: "The token expired.\n"))
        }
        switch machine.tick(now: now) {
        case .none:
            break
        case .sendHeartBeat:
            out.writeInteger(STOMPFrameEncoder.heartBeat)
            flushOut()
        case .close:
            flushOut()
            context?.close(promise: nil)
        }
    }

    func requestClose(_ reason: CloseReason) {
        eventLoop.execute {
            switch reason {
            case .shutdown: self.fail(STOMPError("Server shutdown", detail: "The server is shutting down.\n"))
            case .administrative, .takenOver:
                self.fail(STOMPError("Connection closed", detail: "Closed by an administrator.\n"))
            case .slowConsumer:
                self.fail(STOMPError("Slow consumer", detail: "The client did not read its messages.\n"))
            case .keepAliveTimeout: self.context?.close(promise: nil)
            }
        }
    }

    /// One ERROR, then the connection closes (1.2 §"ERROR").
    func fail(_ error: STOMPError) {
        guard case .fail(let error) = machine.errorRaised(error) else { return }
        writeErrorAndClose(error)
    }

    private func writeErrorAndClose(_ error: STOMPError) {
        STOMPFrameEncoder.write(error.frame, escaping: machine.escaping, to: &out)
        closeAfterWriting()
    }

    // MARK: - Writing

    func write(_ frame: STOMPFrame) {
        STOMPFrameEncoder.write(frame, escaping: machine.escaping, to: &out)
    }

    func writeReceipt(_ receipt: String) {
        out.writeStaticString("RECEIPT\nreceipt-id:")
        if machine.escaping.needsEscaping(receipt) {
            out.writeBytes(machine.escaping.encode(receipt))
        } else {
            out.writeString(receipt)
        }
        out.writeStaticString("\n\n\0")
    }

    /// The last bytes, then the socket closes (within the grace period).
    func closeAfterWriting() {
        guard let context else { return }
        ConnectionLifecycle.writeAndClose(wrapOutboundOut(out), context: context)
        out.clear()
    }

    func flushOut() {
        guard out.readableBytes > 0, let context else { return }
        machine.dataSent(now: eventLoop.now)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        // Behind because one batch filled `out` past the soft limit while the channel stayed writable: the
        // flush emptied it, and no writability change will come to say so.
        if behind.isBehind && context.channel.isWritable {
            behind.caughtUp(lifecycle.info.id, registry: services.shared.connections)
        }
        if out.capacity > Self.keptOutboundCapacity {
            out = context.channel.allocator.buffer(capacity: 256)
        } else {
            out.clear()
        }
    }

    func flushDeliveries() { flushOut() }
}
