import BusCore
import BusRuntime
import FrontendKit
import NATSWire
import NIOCore

/// One NATS client connection: parses operations from the byte stream, consults the session state
/// machine, runs what it asks against the bus, and receives deliveries as a `BusSubscriber`.
/// Everything it writes goes into one outbound buffer that is flushed once per read batch and once per
/// delivery batch (as the reference server does). Confined to its event loop; `requestClose` hops onto
/// it (hence `@unchecked Sendable`).
final class NATSConnectionHandler: BudgetedInput, BusSubscriber, KeepAliveParticipant, ConnectionController,
    @unchecked Sendable
{
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The header block of a message, built once per message per loop (`DeliveryContext`).
    static let headerWireForm = WireFormKey(NATSConnectionHandler.self)
    /// Past this the outbound buffer is given back after a flush instead of kept for reuse.
    static let keptOutboundCapacity = 64 << 10

    let services: NATSServices
    let metricsSlot: ProtocolMetricsSlot
    var deliveryMark: UInt64 = 0
    /// The shard's loop (`handlerAdded` sets the shard to the channel's), not stored a second time (issue 25).
    var eventLoop: any EventLoop { shard.eventLoop }
    var machine: NATSSessionStateMachine
    private let parser: NATSParser
    /// Registry entry, keep-alive, identity and the one clean-up (FrontendKit).
    private var lifecycle: ConnectionLifecycle
    var context: ChannelHandlerContext?
    /// Unowned: the bus (held through `services`) keeps its shards, and a reference count per publish
    /// is measurable here.
    unowned(unsafe) var shard: LoopShard
    /// `services.payloadSchemas`, read on every publish: unowned (services keeps it) and held here, as
    /// the path through `services` costs four reference counts per publish.
    private unowned(unsafe) let payloadSchemas: PayloadSchemas
    /// The bus's clock, for the read budget's check (every few operations) without a reference count per
    /// operation.
    private let clock: @Sendable () -> UInt64
    /// Publications of the current read not yet added to the shard's counters (once per read).
    private var publishedInRead = 0
    private var publishedBytesInRead = 0
    /// Bytes read and not yet parsed (an operation that spans reads); held while a CONNECT's password is
    /// checked off the loop.
    private var inbound = InboundBuffer()
    /// The rest of a read waits for the loop's next turn (`BudgetedInput.deferRest`).
    var inputDeferred = false
    private var credentialsPrepared = false
    /// INFO's `nonce`, when the authenticator takes signed challenges (NKeys, NATS user JWTs).
    private var nonce: String?
    var out = ByteBuffer()
    var writable = true
    /// Publisher flow control: this connection as a subscriber that fell behind, and as a publisher asked
    /// to pause (`CongestedSubscriber`).
    var behind = CongestedSubscriber()
    private var paused = PausedPublisher()
    private var started = false
    private var subscriptionsBySID: [String: NATSSubscription] = [:]
    /// Indexed by `BusSubscription.localIndex`.
    var slots: [NATSSubscription?] = []
    private var freeSlots: [Int] = []
    /// The last subject published to and its topic: publishers mostly repeat themselves.
    private var lastSubject = ByteBuffer()
    private var lastTopic: Topic?
    /// The last topic delivered and its subject bytes.
    var lastDeliveredTopic = Topic(trusted: "")
    var lastDeliveredSubject = ByteBuffer()
    /// When the current read arrived (the publication time of the messages in it).
    private var readTime: UInt64 = 0
    // Keep-alive, driven by the loop's sweeper.
    var keepAliveSlot = -1
    /// TLS started right after INFO (the NATS port with TLS configured; never over WebSocket).
    private let tls: ServerTLS?
    /// The `client_id` of INFO (nats-server's `cid`), the key in the monitoring directory.
    let clientID: UInt64
    /// Carried over WebSocket (monitoring `type`).
    private let isWebSocket: Bool
    /// Listed in `services.directory` (admitted, not yet ended).
    private var inDirectory = false
    /// Counted in plain fields on the loop; read by `monitorSnapshot` there.
    var traffic = NATSTraffic()
    /// When the client last sent something (bus clock, ns).
    private var lastActivityAt: UInt64 = 0
    /// CONNECT's `lang` and `version`, once accepted.
    private var clientLibrary: (lang: String?, version: String?) = (nil, nil)
    private var pendingClientLibrary: (lang: String?, version: String?) = (nil, nil)

    init(services: NATSServices, tls: ServerTLS? = nil, isWebSocket: Bool = false) {
        self.tls = tls
        self.isWebSocket = isWebSocket
        self.clientID = services.makeClientID()
        self.services = services
        self.payloadSchemas = services.payloadSchemas
        self.clock = services.bus.clock
        self.metricsSlot = services.metricsSlot
        self.parser = services.parser
        self.machine = NATSSessionStateMachine(configuration: services.machineConfiguration)
        self.lifecycle = services.shared.makeLifecycle(protocolName: "nats")
        self.shard = services.bus.shards[0]
    }

    var bus: Bus { services.shared.bus }
    var info: ConnectionInfo { _read { yield lifecycle.info } }
    /// Who the client is and what it may do (set by CONNECT).
    private var identity: ClientIdentity { _read { yield lifecycle.identity } }
    private var limits: NATSLimits { services.configuration.limits }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        shard = bus.shard(for: context.eventLoop)
        writable = context.channel.isWritable
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    /// Sends INFO and registers the connection; refuses it when the server is full.
    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        if services.authenticator.issuesChallenges { nonce = services.makeNonce() }
        run(machine.connectionStarted(now: context.eventLoop.now))
        if let refusal = lifecycle.admit(
            remoteAddress: context.channel.remoteAddress, now: bus.clock(), controller: self)
        {
            return run(machine.closeRequested(NATSProtocolError(refusal)))
        }
        // Accepted just as lame-duck mode began: closed at once, so it goes elsewhere.
        guard !services.isLameDuck else { return run(machine.closeRequested(nil)) }
        lifecycle.joinKeepAlive(self, on: context.eventLoop)
        lastActivityAt = bus.clock()
        services.directory.add(self, clientID: clientID, on: context.eventLoop)
        inDirectory = true
        flushOut()
        if let tls {
            // INFO went out in plain text; everything after it is TLS (what nats.py, nats.go and
            // nats-server do when INFO says tls_required).
            do {
                try context.pipeline.syncOperations.addHandler(tls.makeHandler(), position: .first)
                try context.pipeline.syncOperations.addHandler(NATSTLSRequiredGuard(), position: .first)
            } catch {
                context.close(promise: nil)
            }
        }
    }

    /// `INFO {…}`, the first thing on every connection; again with `ldm` in lame-duck mode.
    private func writeInfo(lameDuckMode: Bool = false) {
        guard let context else { return }
        let configuration = services.configuration
        var info = NATSServerInfo(
            serverID: services.serverID, serverName: configuration.serverName,
            version: configuration.protocolVersion, host: services.host,
            port: context.channel.localAddress?.port ?? 4222, maxPayload: limits.maxPayload,
            clientID: clientID, clientIP: context.channel.remoteAddress?.ipAddress,
            authRequired: !services.authenticator.allowsAnonymous,
            tlsRequired: tls != nil, tlsVerify: tls != nil && services.tlsVerify)
        info.lameDuckMode = lameDuckMode
        info.nonce = nonce
        info.write(to: &out)
    }

    func connectionEnded() {
        guard lifecycle.end(self, bus: bus, subscriptions: slots.lazy.compactMap { $0?.busSubscription }) else {
            return
        }
        machine.connectionEnded()
        behind.caughtUp(info.id, registry: services.shared.connections)
        if inDirectory {
            inDirectory = false
            services.directory.countUnsubscribed(slots.lazy.filter { $0 != nil }.count)
            services.directory.remove(clientID: clientID, traffic: traffic)
        }
        slots.removeAll()
        subscriptionsBySID.removeAll()
        inbound.removeAll()
    }

    // MARK: - Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        machine.dataReceived()
        // One clock read per read: every message in it arrived at the same time.
        readTime = bus.clock()
        lastActivityAt = readTime
        inbound.append(&buffer)
        parse()
    }

    /// Runs the operations waiting in `inbound`; keeps what is left (a partial operation, input held
    /// while a password is checked, or the rest of a read that spent its `ReadBudget`) there.
    private func parse() {
        // A paused publisher still decodes what it has read (its pause stops the reading): the deliveries
        // that brings are what lets a subscriber that stays behind reach its deadline and be cut off.
        guard !inputDeferred, var buffer = inbound.next() else { return }
        var budget = ReadBudget(now: readTime)
        // Loaded once per read, not per publish: each load of the unowned shard or of the identity's string
        // is a reference count on the publisher's loop, the one that bounds a cross-loop stream.
        let shard = self.shard
        let publisherID = info.id
        operations: while !machine.isClosed && !inbound.isHeld {
            let operation: NATSParsedOperation?
            do {
                operation = try parser.nextInPlace(&buffer)
            } catch {
                finishRead()
                return fail(error)
            }
            switch operation {
            case nil:
                break operations
            case .publish(let layout):
                // Read where it lies, then skipped.
                handlePublish(layout, in: buffer, shard: shard, publisherID: publisherID)
                buffer.moveReaderIndex(forwardBy: layout.length)
            case .other(let operation):
                // What this connection published so far is written before the operation runs: an UNSUB
                // must not miss, nor a PONG overtake, a message published before it (LoopShard+LocalRun).
                shard.closeLocalRun()
                handle(operation)
            }
            if budget.spend(clock: clock), buffer.readableBytes > 0 {
                inbound.keep(buffer)
                finishRead()
                return deferRest()
            }
        }
        if !machine.isClosed { inbound.keep(buffer) }
        finishRead()
    }

    // MARK: - BudgetedInput

    var readingHeld: Bool { paused.isPaused }
    var waitingInputBytes: Int { inbound.readableBytes }

    func decodeWaitingInput() {
        guard !machine.isClosed else { return }
        readTime = bus.clock()
        parse()
        flushOut()
    }

    /// After a read: its publications are counted, and what they wrote to subscribers is flushed.
    private func finishRead() {
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
        writable = context.channel.isWritable
        if writable && behind.isBehind { behind.caughtUp(info.id, registry: services.shared.connections) }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Every operation but PUB/HPUB goes to the state machine with its input; what comes back runs.
    private func handle(_ operation: consuming NATSClientOperation) {
        switch operation {
        case .connect(let options):
            connect(options)
        case .publish(let publish):
            // (The in-place parser hands PUB/HPUB over as a layout; this is for completeness.)
            switch machine.publishReceived(hasHeaders: publish.hasHeaders) {
            case .ignore: return
            case .refuseAndClose(let error): run(.sendErrorAndClose(error))
            case .publish(let acknowledge):
                traffic.inMessages += 1
                traffic.inBytes += publish.payloadSize
                if self.publish(publish) && acknowledge { run(.acknowledge) }
            }
        case .subscribe(let subject, let queue, let sid):
            run(machine.subscribeReceived(subject: subject, queue: queue, sid: sid))
        case .unsubscribe(let sid, let maxMessages):
            run(
                machine.unsubscribeReceived(
                    sid: sid, maxMessages: maxMessages, delivered: subscriptionsBySID[sid]?.delivered ?? 0))
        case .ping:
            run(machine.pingReceived())
        case .pong:
            run(machine.pongReceived())
        case .ignored:
            run(machine.ignorableOperationReceived())
        }
    }

    /// A `PUB`/`HPUB` at `buffer`'s reader index. The common case — a publisher repeating its subject,
    /// without reply or headers — is published from the read buffer directly; anything else becomes an
    /// operation value first.
    @inline(__always)
    private func handlePublish(
        _ layout: NATSPublishLayout, in buffer: ByteBuffer, shard: LoopShard, publisherID: String
    ) {
        switch machine.publishReceived(hasHeaders: layout.hasHeaders) {
        case .ignore:
            return
        case .refuseAndClose(let error):
            run(.sendErrorAndClose(error))
        case .publish(let acknowledge):
            traffic.inMessages += 1
            traffic.inBytes += layout.payloadSize
            let handled: Bool
            if !layout.hasHeaders, !layout.hasReply, let lastTopic, layout.subjectEquals(lastSubject, in: buffer) {
                publishedInRead += 1
                publishedBytesInRead += layout.payloadSize
                if !payloadSchemas.isEmpty,
                    let violation = payloadSchemas.check(
                        lastTopic, payload: layout.payload(in: buffer), contentType: nil)
                {
                    run(
                        machine.errorOccurred(
                            .payloadSchemaViolation(String(buffer: lastSubject), reason: violation.description)))
                    return
                }
                if shard.isRouted(lastTopic) {
                    shard.publishPlain(
                        topic: lastTopic, payloadIn: buffer, at: layout.payloadIndex(in: buffer),
                        length: layout.payloadSize, publisherID: publisherID, timestamp: readTime)
                }
                handled = true
            } else {
                handled = publish(layout.publish(in: buffer))
            }
            if handled && acknowledge { NATSEncoder.ok(&out) }
        }
    }

    /// PONG once what this connection published before the PING has been written to its subscribers,
    /// on every loop: clients (and nats-server) treat the round trip as a flush barrier.
    private func pong() {
        shard.afterDeliveries { [self] in
            guard !machine.isClosed else { return }
            NATSEncoder.pong(&out)
            flushOut()
        }
    }

    /// CONNECT: its credentials are checked (off the loop first when the check is slow), and the state
    /// machine gets the verdict.
    private func connect(_ options: NATSConnectOptions) {
        // user/pass for static users; auth_token, jwt or a lone pass carry a token; nkey/sig answer the
        // nonce (an NKey user, or the user of a NATS user JWT).
        var challenge: SignedChallenge?
        if let nonce, options.nkey != nil || options.signature != nil {
            challenge = SignedChallenge(nonce: nonce, publicKey: options.nkey, signature: options.signature)
        }
        let credentials = ClientCredentials(
            username: options.user, password: options.password, token: options.token,
            clientID: info.id, certificateSubject: context?.channel.verifiedClientCommonName, challenge: challenge)
        pendingClientLibrary = (options.lang, options.version)
        if !credentialsPrepared, let preparing = services.authenticator.prepare(credentials, on: eventLoop) {
            // A password check may hash for a while: off the loop, with this client's input held.
            inbound.hold()
            preparing.whenComplete { [self] _ in
                credentialsPrepared = true
                inbound.release()
                guard !machine.isClosed, context != nil else { return }
                connect(options)
                parse()
                flushOut()
            }
            return
        }
        switch services.authenticate(credentials) {
        case .accepted(let identity):
            lifecycle.identity = identity
            run(machine.connectReceived(options, authenticated: true, permissions: identity.permissions))
        case .refused:
            services.counters.countAuthenticationFailure()
            run(machine.connectReceived(options, authenticated: false))
        }
    }

    // MARK: - Publishing

    /// A PUB/HPUB other than the common case; false when it was refused (no `+OK` then).
    private func publish(_ publish: borrowing NATSPublish) -> Bool {
        let topic: Topic
        if let lastTopic, publish.subjectEquals(lastSubject) {
            topic = lastTopic
        } else {
            switch machine.publishSubjectReceived(Self.checkedSubject(String(buffer: publish.subject))) {
            case .refuse(let error):
                run(machine.errorOccurred(error))
                return false
            case .publish(let resolved):
                topic = resolved
                lastTopic = resolved
                lastSubject = ByteBuffer(buffer: publish.subject)  // a copy: the read buffer is not kept alive
            }
        }
        if topic.name.hasPrefix("$JS/API/") || topic.name.hasPrefix("$JS/ACK/") || topic.name.hasPrefix("$JS/FC/")
            || services.jetStream.domainAPIPrefix.map(topic.name.hasPrefix) == true
        {
            // JetStream answers these (and routes them to any subscriber); never the fast path's repeated
            // subject (an ack's `+WPI` then `+ACK` share one).
            lastTopic = nil
            lastSubject = ByteBuffer()
            return jetStream(publish, topic: topic, publisherID: info.id, timestamp: readTime)
        }
        // nil: no headers (made only once the message is, so a publication nobody reads makes none).
        var headers: MessageHeaders?
        if publish.hasHeaders, let block = publish.headers {
            do {
                headers = try NATSHeaderBlock.parse(block).messageHeaders
            } catch {
                run(machine.errorOccurred(error))
                return false
            }
        }
        var replyTopic: Topic?
        if publish.hasReply, let reply = publish.replyTo {
            switch machine.publishSubjectReceived(String(buffer: reply), isReply: true) {
            case .refuse(let error):
                run(machine.errorOccurred(error))
                return false
            case .publish(let resolved):
                replyTopic = resolved
            }
            if headers == nil { headers = MessageHeaders() }
            headers!.replyTo = replyTopic!.name
        }
        if !payloadSchemas.isEmpty,
            let violation = payloadSchemas.check(
                topic, payload: publish.payload, contentType: headers?.contentType)
        {
            // A JetStream publish (a request a stream captures) is answered with a PubAck error, as the
            // stream's own refusals are; anything else gets -ERR and the connection stays.
            if let replyTopic, shard.isCapturedByStreams(topic) {
                refuseStreamPublish(violation.description, replyTopic: replyTopic)
                return true
            }
            run(
                machine.errorOccurred(
                    .payloadSchemaViolation(String(buffer: publish.subject), reason: violation.description)))
            return false
        }
        shard.stats.published(slot: metricsSlot, bytes: publish.payloadSize)
        guard shard.isRouted(topic) else {
            // Nobody listens and nothing is kept: no message to build.
            if let replyTopic, let replySubject = publish.replyTo {
                run(machine.requestFoundNoSubscribers(replySubject: replySubject, replyTopic: replyTopic))
            }
            return true
        }
        let message = BusMessage(
            topic: topic, payload: publish.payload, headers: headers ?? MessageHeaders(), publisherID: info.id,
            timestamp: readTime)
        if let replyTopic, shard.isCapturedByStreams(topic) {
            // A stream captures it: JetStream's PubAck answers once every capturing stream stored it.
            publishIntoStreams(message, replyTopic: replyTopic)
            return true
        }
        // Only a client that asked for no-responders has its requests' recipients counted; with an engine a
        // responder may be on another instance, so nobody here is no answer.
        guard machine.answersNoResponders, bus.engine == nil, let replyTopic, let replySubject = publish.replyTo
        else {
            shard.publish(message)
            return true
        }
        let deferred: (PublishResult) -> Void = { [self] result in
            if result.recipients == 0 {
                run(machine.requestFoundNoSubscribers(replySubject: replySubject, replyTopic: replyTopic))
                flushOut()
            }
        }
        if let result = shard.publish(message, whenDeferred: deferred), result.recipients == 0 {
            run(machine.requestFoundNoSubscribers(replySubject: replySubject, replyTopic: replyTopic))
        }
        return true
    }

    /// Writes the 503 status message to this connection's subscription on the reply subject.
    private func sendNoResponders(replySubject: ByteBuffer, replyTopic: Topic) {
        for case let subscription? in slots
        where subscription.busSubscription.filter.shareGroup == nil
            && subscription.busSubscription.filter.matches(replyTopic)
        {
            var block = ByteBuffer()
            NATSHeaderBlock(status: 503).write(to: &block)
            NATSEncoder.headerMessage(
                &out, subject: replySubject, sid: subscription.sidBytes, replyTo: nil, headers: block,
                payload: ByteBuffer())
            return
        }
    }

    // MARK: - Subscribing

    /// Subscribes `sid` on the bus (the state machine checked the sid, the subject and the permission).
    private func subscribe(sid: String, subject: String, filter: TopicFilter, noLocal: Bool) {
        let result = bus.subscribe(
            filter, subscriber: self, subscriberID: info.id,
            options: identity.subscriptionOptions(noLocal: noLocal),
            presence: info.presence)
        let subscription = NATSSubscription(sid: sid, subject: subject, busSubscription: result.subscription)
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = subscription
        } else {
            slot = slots.count
            slots.append(subscription)
        }
        result.subscription.localIndex = slot
        subscriptionsBySID[sid] = subscription
        services.directory.countSubscribed()
        lifecycle.update { $0.subscriptions.append(subject) }
    }

    private func remove(_ subscription: NATSSubscription) {
        let slot = subscription.busSubscription.localIndex
        guard slot < slots.count, slots[slot] === subscription else { return }
        bus.unsubscribe(subscription.busSubscription, presenceClientID: info.id)
        slots[slot] = nil
        freeSlots.append(slot)
        services.directory.countUnsubscribed()
        subscriptionsBySID[subscription.sid] = nil
        let subject = subscription.subject
        lifecycle.update { info in
            if let index = info.subscriptions.firstIndex(of: subject) { info.subscriptions.remove(at: index) }
        }
    }

    // MARK: - Keep-alive and closing

    func keepAliveTick(now: NIODeadline) {
        run(machine.tick(now: now, credentialsExpired: lifecycle.credentialsExpired(now: bus.clock())))
        out.releaseStorageIfEmpty()
        if behind.isBehind || paused.isPaused {
            let clock = bus.clock()
            behind.observe(context?.channel, unflushed: out.readableBytes, now: clock)
            // Publishers may have paused, so no delivery comes to notice the deadline: the tick does.
            if behind.isPastDeadline(now: clock, deadline: services.congestionBounds.deadline) {
                run(machine.outboundOverflowed())
            }
            if paused.expire(now: clock, maxPause: 2 * services.congestionBounds.deadline) { resumeInput() }
        }
    }

    /// A subscriber this connection's publishes feed fell behind, or caught up (any thread).
    func publishingPaused(_ paused: Bool, by subscriberID: String) {
        eventLoop.execute {
            guard self.paused.apply(paused, by: subscriberID, now: self.bus.clock()) != nil else { return }
            self.resumeInput()
        }
    }

    /// Lame-duck mode: the client is told (INFO with `ldm`); closing comes later, from the frontend.
    func enterLameDuckMode() {
        eventLoop.execute {
            self.run(self.machine.lameDuckEntered())
            self.flushOut()
        }
    }

    func requestClose(_ reason: CloseReason) {
        eventLoop.execute { self.run(self.machine.closeRequested(NATSProtocolError(reason))) }
    }

    /// A parser or handler error: the state machine decides whether it closes the connection.
    private func fail(_ error: NATSProtocolError) {
        run(machine.errorOccurred(error))
    }

    // MARK: - Running actions

    /// Runs what the state machine asked for: the one place its commands become IO.
    func run(_ action: NATSSessionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .sendInfo:
            writeInfo()
        case .sendLameDuckInfo:
            writeInfo(lameDuckMode: true)
        case .acknowledge:
            NATSEncoder.ok(&out)
        case .sendPong:
            pong()
        case .sendPing:
            NATSEncoder.ping(&out)
            flushOut()
        case .sendError(let error):
            if error.isPermissionsViolation { services.counters.countPermissionDenied() }
            NATSEncoder.error(&out, error)
        case .sendErrorAndClose(let error):
            NATSEncoder.error(&out, error)
            guard let context else { return }
            ConnectionLifecycle.writeAndClose(wrapOutboundOut(out), context: context)
            out.clear()
        case .close:
            context?.close(promise: nil)
        case .closeSlowConsumer:
            // The reference server's policy: a connection that cannot keep up is closed (its client
            // reconnects), so it never holds the server's memory or slows the publishers. Not from inside
            // the delivery loop: closing unsubscribes.
            services.counters.countSlowConsumer()
            services.directory.countSlowConsumer()
            eventLoop.execute { self.context?.close(promise: nil) }
        case .acceptConnect(let name, let acknowledge):
            let user = identity.userID
            clientLibrary = pendingClientLibrary
            lifecycle.update {
                $0.userID = user
                $0.name = name
            }
            if acknowledge { NATSEncoder.ok(&out) }
        case .subscribe(let sid, let subject, let filter, let noLocal, let acknowledge):
            subscribe(sid: sid, subject: subject, filter: filter, noLocal: noLocal)
            if acknowledge { NATSEncoder.ok(&out) }
        case .unsubscribe(let sid, let acknowledge):
            if let subscription = subscriptionsBySID[sid] { remove(subscription) }
            if acknowledge { NATSEncoder.ok(&out) }
        case .limitDeliveries(let sid, let maxMessages, let acknowledge):
            subscriptionsBySID[sid]?.maxMessages = maxMessages
            if acknowledge { NATSEncoder.ok(&out) }
        case .sendNoResponders(let replySubject, let replyTopic):
            sendNoResponders(replySubject: replySubject, replyTopic: replyTopic)
        }
    }

    // MARK: - Monitoring

    /// The connection as `/connz` shows it; nil before it was admitted. Call on its loop.
    func monitorSnapshot() -> NATSConnectionSnapshot? {
        guard inDirectory else { return nil }
        var snapshot = NATSConnectionSnapshot(
            clientID: clientID, startedAt: UInt64(max(0, info.connectedAt * 1e9)), lastActivityAt: lastActivityAt)
        snapshot.isWebSocket = isWebSocket
        let remote = context?.channel.remoteAddress
        snapshot.ip = remote?.ipAddress
        snapshot.port = remote?.port
        snapshot.pendingBytes = out.readableBytes
        snapshot.traffic = traffic
        snapshot.subscriptions = slots.compactMap { entry in
            entry.map {
                NATSConnectionSnapshot.Subscription(
                    subject: $0.subject, queue: $0.busSubscription.filter.shareGroup, sid: $0.sid,
                    messages: $0.delivered)
            }
        }
        snapshot.name = info.name
        snapshot.lang = clientLibrary.lang
        snapshot.version = clientLibrary.version
        snapshot.user = identity.userID
        return snapshot
    }

    // MARK: - Writing

    func flushOut() {
        guard out.readableBytes > 0, let context else { return }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        // Behind because one batch filled `out` past max_pending while the channel stayed writable: the
        // flush emptied it, and no writability change will come to say so — the publishers it paused go
        // on now (before this, they waited for their pause to expire: 60 s for MQTT and AMQP).
        if behind.isBehind && context.channel.isWritable {
            writable = true
            behind.caughtUp(info.id, registry: services.shared.connections)
        }
        if out.capacity > Self.keptOutboundCapacity {
            out = context.channel.allocator.buffer(capacity: 256)
        } else {
            // When the socket took the bytes at once, the storage is ours again and is reused as is.
            out.clear()
        }
    }
}

extension NATSProtocolError {
    /// FrontendKit's reasons for closing, as NATS says them; nil: closed without a word (nats-server on
    /// shutdown; clients reconnect on their own).
    init?(_ reason: CloseReason) {
        switch reason {
        case .slowConsumer: self = .slowConsumer
        case .keepAliveTimeout: self = .staleConnection
        case .administrative, .takenOver: self = .closedByAdministrator
        case .shutdown: return nil
        }
    }

    /// Every connection limit (total, per address, rate) gets the reference server's one wording.
    init(_ refusal: AdmissionRefusal) {
        switch refusal {
        case .total, .perAddress, .rate: self = .maxConnectionsExceeded
        }
    }
}
