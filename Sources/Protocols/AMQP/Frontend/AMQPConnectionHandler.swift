import AMQPWire
import Atomics
import BusCore
import BusRuntime
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore

/// One AMQP 0-9-1 connection: decodes frames from the byte stream, runs the connection state machine on
/// channel 0, and the channels' methods against the broker (`QueueBroker`: exchanges, bindings, queues
/// on their loops). Everything it writes goes into one outbound buffer, flushed once per read batch and
/// once per delivery batch. Confined to its event loop; `requestClose` hops onto it.
final class AMQPConnectionHandler: BudgetedInput, KeepAliveParticipant, ConnectionController,
    @unchecked Sendable
{
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Past this the outbound buffer is given back after a flush instead of kept for reuse.
    static let keptOutboundCapacity = 64 << 10

    let services: AMQPServices
    /// Publisher flow control: the subscribers that asked this connection to stop reading.
    private var paused = PausedPublisher()
    private(set) var eventLoop: any EventLoop
    var context: ChannelHandlerContext?
    var keepAliveSlot = -1
    var machine: AMQPConnectionStateMachine
    private var lifecycle: ConnectionLifecycle
    var inbound = InboundBuffer()
    /// The rest of the input waits for the loop's next turn (`BudgetedInput.deferRest`).
    var inputDeferred = false
    private(set) var frameMax = AMQPLimits.minFrameMax
    private var channelMax: UInt16 = 0
    var channels: [UInt16: AMQPChannel] = [:]
    var out = ByteBuffer()
    /// Shared with the consumers: false while the socket's outbound buffer is over its mark.
    let writable = ManagedAtomic(true)
    private var started = false
    /// Inside `processInbound`: what is written is flushed once at the end of the read.
    private(set) var isReading = false
    /// The bus clock of the read being processed, taken once per read for the messages it publishes.
    private var readClock: UInt64?
    /// The client has published (only publishers are blocked), and is blocked now.
    var hasPublished = false
    private(set) var isBlocked = false
    /// Publishes for queues on other loops, sent once per read (one hop per queue per read).
    var outbox: [ObjectIdentifier: (host: QueueHost, publications: [QueuePublication], confirms: [(UInt16, UInt64)])] =
        [:]
    /// A task that writes the answered confirms is queued on the loop.
    var confirmFlushScheduled = false
    /// Where this connection's publishes went, while the broker's routing table stays as it was.
    var routes = QueueRouteCache()
    /// Exchanges this login may publish to, as found on publish (forgotten when the login changes).
    var writableExchanges: Set<String> = []
    /// The login's password was a JWT: connection.update-secret brings the next token.
    private var loggedInWithToken = false

    init(services: AMQPServices) {
        self.services = services
        self.eventLoop = services.shared.bus.shards[0].eventLoop
        self.machine = AMQPConnectionStateMachine(limits: services.configuration.limits, now: .now())
        self.lifecycle = services.shared.makeLifecycle(protocolName: "amqp")
        self.broker = services.broker
    }

    var bus: Bus { services.shared.bus }
    /// The broker of the virtual host connection.open named (`/` until then).
    private(set) var broker: QueueBroker
    var limits: AMQPLimits { services.configuration.limits }
    var connectionID: String { lifecycle.info.id }
    var identity: ClientIdentity { _read { yield lifecycle.identity } }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        eventLoop = context.eventLoop
        machine = AMQPConnectionStateMachine(limits: limits, now: context.eventLoop.now)
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
            // Refused by a connection limit before the handshake: RabbitMQ closes the socket.
            context.close(promise: nil)
            return
        }
        lifecycle.joinKeepAlive(self, on: context.eventLoop)
    }

    func connectionEnded() {
        guard lifecycle.end(self, bus: bus, subscriptions: []) else { return }
        sendOutbox()
        for channel in channels.values { release(channel) }
        channels.removeAll()
        for host in broker.queues(ownedBy: connectionID) {
            host.perform { $0.delete() }
        }
        inbound.removeAll()
    }

    /// Gives back what a closing channel holds: its consumers end (their unacked messages requeued) and
    /// its other unsettled deliveries (basic.get, cancelled consumers) go back to their queues.
    func release(_ channel: AMQPChannel) {
        if let reply = channel.directReply {
            services.directReplies.withLockedValue { _ = $0.removeValue(forKey: reply.address) }
            channel.directReply = nil
        }
        endDirectReplyInbox(of: channel)
        for (host, ids) in channel.settleAll().groupedByHost() {
            host.perform { $0.reject(ids, requeue: true) }
        }
        for consumer in channel.consumers.values {
            let id = consumer.id
            consumer.host.perform { $0.removeConsumer(id, requeue: true) }
        }
        channel.consumers.removeAll()
        channel.assembler.reset()
    }

    // MARK: - Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        inbound.append(&bytes)
        processInbound()
    }

    /// The bus time for a message published now: the read's (taken once per read), or the clock's outside
    /// one.
    func publishClock() -> UInt64 {
        guard isReading else { return bus.clock() }
        if let readClock { return readClock }
        let now = bus.clock()
        readClock = now
        return now
    }

    /// Decodes and handles every whole frame waiting, until input is held (an answer from another loop
    /// is awaited) or the connection closes.
    func processInbound() {
        // A paused publisher still decodes what it has read (its pause stops the reading): the deliveries
        // that brings are what lets a subscriber that stays behind reach its deadline and be cut off.
        guard !inputDeferred else { return }
        isReading = true
        defer {
            isReading = false
            readClock = nil
        }
        // One reading of each clock per read, not per frame (three frames per published message).
        let now = eventLoop.now
        var budget = ReadBudget(now: publishClock())
        while var buffer = inbound.next() {
            let decoded: AMQPInbound?
            do {
                if machine.expectsProtocolHeader {
                    decoded = AMQPProtocolHeader.decode(&buffer).map { .protocolHeader($0) }
                } else {
                    decoded = try AMQPFrameDecoder.decodeFrame(&buffer, frameMax: frameMax).map { .frame($0) }
                }
            } catch {
                inbound.keep(ByteBuffer())
                run(machine.errorRaised(error))
                return
            }
            inbound.keep(buffer)
            guard let decoded else { break }
            switch decoded {
            case .protocolHeader(let header):
                run(machine.protocolHeaderReceived(header, now: now))
            case .frame(let frame):
                machine.frameReceived(now: now)
                handle(frame)
            }
            if budget.spend(clock: bus.clock), inbound.readableBytes > 0 {
                deferRest()
                break
            }
        }
        sendOutbox()
        flushConfirms()
    }

    // MARK: - BudgetedInput

    var readingHeld: Bool { isBlocked || paused.isPaused }
    var waitingInputBytes: Int { inbound.readableBytes }

    func decodeWaitingInput() {
        processInbound()
        flushOut()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOut()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let isWritable = context.channel.isWritable
        writable.store(isWritable, ordering: .relaxed)
        if isWritable {
            for channel in channels.values {
                for consumer in channel.consumers.values { consumer.host.resume() }
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func handle(_ frame: AMQPFrame) {
        if machine.isClosing {
            // §4.2.6: after connection.close only close / close-ok matter.
            guard frame.channel == 0, frame.type == .method,
                case .connection(let method)? = try? AMQPMethod.decode(frame.payload, limits: limits)
            else { return }
            return run(machine.connectionMethodReceived(method))
        }
        if frame.type == .heartbeat {
            guard frame.channel == 0 else {
                return run(machine.errorRaised(.exception(.frameError, "heartbeat on channel \(frame.channel)")))
            }
            return
        }
        if frame.channel == 0 {
            guard frame.type == .method else {
                return run(machine.errorRaised(.unexpectedFrame("content frame on channel 0")))
            }
            do {
                guard case .connection(let method) = try AMQPMethod.decode(frame.payload, limits: limits) else {
                    return run(machine.errorRaised(.exception(.commandInvalid, "non-connection method on channel 0")))
                }
                run(machine.connectionMethodReceived(method))
            } catch {
                run(machine.errorRaised(error))
            }
            return
        }
        guard machine.isOpen else { return run(machine.channelFrameBeforeOpen()) }
        channelFrame(frame)
    }

    // MARK: - Channel frames

    private func channelFrame(_ frame: AMQPFrame) {
        let number = frame.channel
        guard let channel = channels[number] else {
            // Only channel.open may name a channel that is not open (RabbitMQ: 504 CHANNEL_ERROR, hard).
            guard frame.type == .method, case .channel(.open)? = try? AMQPMethod.decode(frame.payload, limits: limits)
            else {
                return run(
                    machine.errorRaised(.exception(.channelError, "expected 'channel.open' on channel \(number)")))
            }
            guard number <= channelMax else {
                return run(
                    machine.errorRaised(
                        .exception(
                            .channelError, "channel number \(number) exceeds negotiated channel_max \(channelMax)",
                            classID: 20, methodID: 10)))
            }
            channels[number] = AMQPChannel(number: number, limits: limitsForChannels)
            write(.channel(.openOk), channel: number)
            return
        }
        if case .closing = channel.state {
            // After channel.close only close / close-ok are read (RabbitMQ drops the rest).
            guard frame.type == .method, let method = try? AMQPMethod.decode(frame.payload, limits: limits) else {
                return
            }
            switch method {
            case .channel(.closeOk):
                channels[number] = nil
            case .channel(.close):
                write(.channel(.closeOk), channel: number)
                channels[number] = nil
            default:
                break
            }
            return
        }
        let output: AMQPContentAssembler.Output
        do {
            output = try channel.assembler.frameReceived(frame)
        } catch {
            return fail(error, on: channel)
        }
        switch output {
        case .incomplete:
            return
        case .method(let method):
            methodReceived(method, on: channel)
        case .content(let content):
            publishReceived(content, on: channel)
        }
    }

    /// Limits with the negotiated frame-max (the assembler checks body frames against it).
    var limitsForChannels: AMQPLimits {
        var limits = self.limits
        limits.frameMax = frameMax
        return limits
    }

    /// A channel-level error: channel.close with its code (or connection.close for hard errors).
    func fail(_ error: AMQPError, on channel: AMQPChannel) {
        let reason = error.closeReason(channel: channel.number)
        guard !reason.closesConnection else { return run(machine.errorRaised(error)) }
        release(channel)
        channel.state = .closing
        write(reason.method, channel: channel.number)
    }

    /// A broker refusal on `channel` for the method `classID.methodID`.
    func fail(_ refusal: BrokerRefusal, on channel: AMQPChannel, classID: UInt16, methodID: UInt16) {
        let code: AMQPReplyCode =
            switch refusal.kind {
            case .accessRefused: .accessRefused
            case .notFound: .notFound
            case .resourceLocked: .resourceLocked
            case .preconditionFailed: .preconditionFailed
            case .notAllowed: .notAllowed
            }
        fail(.exception(code, refusal.text, classID: classID, methodID: methodID), on: channel)
    }

    // MARK: - Flow control (connection.blocked)

    /// The broker's publishers are blocked or unblocked (the store's backlog): a client that said it
    /// understands `connection.blocked` and has published hears it, and its socket is not read while
    /// blocked (RabbitMQ's behaviour: publishes wait in the client and the kernel).
    func flowChanged(blocked: Bool, reason: String = AMQPServices.blockedReason) {
        guard let context, machine.isOpen, machine.clientCapabilities.contains("connection.blocked"),
            hasPublished || !blocked
        else { return }
        guard blocked != isBlocked else { return }
        isBlocked = blocked
        write(blocked ? .connection(.blocked(reason: reason)) : .connection(.unblocked), channel: 0)
        flushOut()
        updateReading()
    }

    /// Publisher flow control: a subscriber this connection's publishes feed fell behind, or caught up
    /// (`CongestedSubscriber`); the socket is not read while any is behind, nor while the store is.
    func publishingPaused(_ paused: Bool, by subscriberID: String) {
        eventLoop.execute {
            guard self.paused.apply(paused, by: subscriberID, now: self.bus.clock()) != nil else { return }
            self.resumeInput()
        }
    }

    // MARK: - Keep-alive and closing

    func keepAliveTick(now: NIODeadline) {
        out.releaseStorageIfEmpty()
        if lifecycle.credentialsExpired(now: bus.clock()) {
            run(machine.closeRequested(.accessRefused, "the token expired"))
            return flushOut()
        }
        run(machine.tick(now: now))
        if paused.isPaused, paused.expire(now: bus.clock()) { resumeInput() }
        let blocked = services.blocked.load(ordering: .relaxed)
        if blocked != isBlocked { flowChanged(blocked: blocked) }
        flushOut()
    }

    func requestClose(_ reason: CloseReason) {
        eventLoop.execute {
            switch reason {
            case .shutdown:
                self.run(
                    self.machine.closeRequested(
                        .connectionForced, "broker forced connection closure with reason 'shutdown'"))
            case .administrative:
                self.run(self.machine.closeRequested(.connectionForced, "Closed via management plugin"))
            case .slowConsumer, .keepAliveTimeout, .takenOver:
                self.run(self.machine.closeRequested(.connectionForced, "\(reason)"))
            }
            self.flushOut()
        }
    }

    // MARK: - Running the connection machine's actions

    func run(_ action: AMQPConnectionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .sendStart:
            write(.connection(.start(AMQPServerProperties.connectionStart(version: services.version))), channel: 0)
        case .sendProtocolHeaderAndClose:
            AMQPProtocolHeader.write(to: &out)
            closeAfterWriting()
        case .authenticate(let credentials, _):
            authenticate(credentials)
        case .sendTune(let tune):
            write(.connection(.tune(tune)), channel: 0)
        case .tuned(let negotiated):
            frameMax = negotiated.frameMax
            channelMax = negotiated.channelMax
        case .openVirtualHost(let name):
            run(machine.virtualHostChecked(openVirtualHost(name)))
        case .sendOpenOk:
            write(.connection(.openOk), channel: 0)
        case .checkSecret(let secret):
            checkSecret(String(buffer: secret))
        case .sendUpdateSecretOk:
            write(.connection(.updateSecretOk), channel: 0)
        case .sendClose(let close):
            write(.connection(.close(close)), channel: 0)
            machine.closeSent(now: eventLoop.now)
            for channel in channels.values { release(channel) }
        case .sendCloseOkAndClose:
            write(.connection(.closeOk), channel: 0)
            closeAfterWriting()
        case .sendHeartbeat:
            out.writeBytes(AMQPFrame.heartbeatBytes)
        case .closeConnection:
            flushOut()
            context?.close(promise: nil)
        }
    }

    /// start-ok's user and password through the shared authenticator (a JWT works as the password);
    /// a slow password check runs off the loop with the connection's input held.
    private func authenticate(_ sasl: AMQPSASLCredentials, prepared: Bool = false) {
        // Every AMQP client logs in: RabbitMQ's rules for guest/guest and a JWT as the password.
        let (credentials, isToken) = ClientCredentials.brokerLogin(
            username: sasl.username, password: sasl.password, clientID: connectionID,
            allowsAnonymous: services.authenticator.allowsAnonymous,
            certificateSubject: context?.channel.verifiedClientCommonName)
        loggedInWithToken = isToken
        if !prepared, let preparing = services.authenticator.prepare(credentials, on: eventLoop) {
            inbound.hold()
            preparing.whenComplete { [self] _ in
                inbound.release()
                guard context != nil else { return }
                authenticate(sasl, prepared: true)
                processInbound()
                flushOut()
            }
            return
        }
        switch services.authenticator.authenticate(credentials) {
        case .accepted(let identity):
            lifecycle.identity = identity
            let user = identity.userID
            lifecycle.update { $0.userID = user }
            run(machine.authenticated(true))
        case .refused:
            services.counters.countAuthenticationFailure()
            run(machine.authenticated(false))
        }
    }

    /// connection.update-secret: a connection that logged in with a JWT presents its next token, which
    /// must be accepted and name the same user; its permissions and expiry then replace the old ones
    /// (RabbitMQ's OAuth 2 backend). A password login has nothing to refresh: RabbitMQ's internal backend
    /// accepts any new secret, and so does this.
    /// connection.open: the virtual host must exist and the login must have permissions in it.
    private func openVirtualHost(_ name: String) -> AMQPConnectionStateMachine.VirtualHostCheck {
        guard let found = services.virtualHosts.broker(name) else { return .notFound(name) }
        guard identity.permissions.resources.mayOpen(name) else {
            services.counters.countPermissionDenied()
            return .refused(name, user: identity.userID ?? "guest")
        }
        broker = found
        return .accepted
    }

    private func checkSecret(_ secret: String, prepared: Bool = false) {
        guard loggedInWithToken else { return run(machine.secretChecked(true)) }
        let credentials = ClientCredentials(token: secret, clientID: connectionID)
        if !prepared, let preparing = services.authenticator.prepare(credentials, on: eventLoop) {
            inbound.hold()
            preparing.whenComplete { [self] _ in
                inbound.release()
                guard context != nil else { return }
                checkSecret(secret, prepared: true)
                processInbound()
                flushOut()
            }
            return
        }
        guard case .accepted(let identity) = services.authenticator.authenticate(credentials),
            identity.userID == lifecycle.identity.userID
        else {
            services.counters.countAuthenticationFailure()
            return run(machine.secretChecked(false))
        }
        lifecycle.identity = identity
        writableExchanges.removeAll()
        run(machine.secretChecked(true))
    }

    // MARK: - Writing

    func write(_ method: AMQPMethod, channel: UInt16) {
        method.writeFrame(channel: channel, to: &out)
    }

    /// The last bytes, then the socket closes (within the grace period).
    private func closeAfterWriting() {
        guard let context else { return }
        ConnectionLifecycle.writeAndClose(wrapOutboundOut(out), context: context)
        out.clear()
    }

    func flushOut() {
        guard out.readableBytes > 0, let context else { return }
        machine.frameSent(now: eventLoop.now)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        if out.capacity > Self.keptOutboundCapacity {
            out = context.channel.allocator.buffer(capacity: 256)
        } else {
            out.clear()
        }
    }

}
