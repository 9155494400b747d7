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
final class NATSConnectionHandler: ChannelInboundHandler, BusSubscriber, KeepAliveParticipant, ConnectionController,
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
    private(set) var eventLoop: any EventLoop
    private var machine: NATSSessionStateMachine
    private let parser: NATSParser
    private var options = NATSConnectOptions()
    /// Registry entry, keep-alive, identity and the one clean-up (FrontendKit).
    private var lifecycle: ConnectionLifecycle
    private var context: ChannelHandlerContext?
    /// Unowned: the bus (held through `services`) keeps its shards, and a reference count per publish
    /// is measurable here.
    private unowned(unsafe) var shard: LoopShard
    /// Publications of the current read not yet added to the shard's counters (once per read).
    private var publishedInRead = 0
    private var publishedBytesInRead = 0
    /// The tail of the last read when an operation spans reads.
    private var unread: ByteBuffer?
    /// While a CONNECT's password is checked off the loop, input waits in `unread`.
    private var heldForAuthentication = false
    private var credentialsPrepared = false
    private var out = ByteBuffer()
    private var writable = true
    private var started = false
    private var subscriptionsBySID: [String: NATSSubscription] = [:]
    /// Indexed by `BusSubscription.localIndex`.
    private var slots: [NATSSubscription?] = []
    private var freeSlots: [Int] = []
    /// The last subject published to and its topic: publishers mostly repeat themselves.
    private var lastSubject = ByteBuffer()
    private var lastTopic: Topic?
    /// The last topic delivered and its subject bytes.
    private var lastDeliveredTopic = Topic(trusted: "")
    private var lastDeliveredSubject = ByteBuffer()
    /// When the current read arrived (the publication time of the messages in it).
    private var readTime: UInt64 = 0
    // Keep-alive, driven by the loop's sweeper.
    var keepAliveSlot = -1
    private var nextPing = NIODeadline.distantFuture
    private var authenticationDeadline: NIODeadline?
    /// TLS started right after INFO (the NATS port with TLS configured; never over WebSocket).
    private let tls: ServerTLS?

    init(services: NATSServices, tls: ServerTLS? = nil) {
        self.tls = tls
        self.services = services
        self.metricsSlot = services.metricsSlot
        self.parser = NATSParser(limits: services.configuration.limits)
        self.machine = NATSSessionStateMachine(
            authenticationRequired: !services.authenticator.allowsAnonymous,
            maxPingsOut: services.configuration.limits.maxPingsOut)
        self.lifecycle = ConnectionLifecycle(
            protocolName: "nats", id: services.bus.makeIdentifier(), connections: services.connections,
            counters: services.counters, keepAlive: services.keepAlive)
        self.shard = services.bus.shards[0]
        self.eventLoop = shard.eventLoop
    }

    private var bus: Bus { services.bus }
    private var info: ConnectionInfo { lifecycle.info }
    /// Who the client is and what it may do (set by CONNECT).
    private var identity: ClientIdentity { lifecycle.identity }
    private var limits: NATSLimits { services.configuration.limits }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        eventLoop = context.eventLoop
        shard = bus.shard(for: context.eventLoop)
        out = context.channel.allocator.buffer(capacity: 256)
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
        let configuration = services.configuration
        NATSServerInfo(
            serverID: services.serverID, serverName: configuration.serverName,
            version: configuration.protocolVersion, host: services.host,
            port: context.channel.localAddress?.port ?? 4222, maxPayload: limits.maxPayload,
            clientID: services.makeClientID(), clientIP: context.channel.remoteAddress?.ipAddress,
            authRequired: !services.authenticator.allowsAnonymous,
            tlsRequired: tls != nil, tlsVerify: tls != nil && services.tlsVerify
        ).write(to: &out)
        // Every connection limit (total, per address, rate) gets the reference server's wording.
        guard lifecycle.admit(remoteAddress: context.channel.remoteAddress, now: bus.clock(), controller: self) == nil
        else {
            return fail(.maxConnectionsExceeded)
        }
        let now = context.eventLoop.now
        if !services.authenticator.allowsAnonymous {
            authenticationDeadline = now + .seconds(Int64(limits.authTimeoutSeconds))
        }
        nextPing = now + .seconds(Int64(limits.pingIntervalSeconds))
        lifecycle.joinKeepAlive(self, on: context.eventLoop)
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

    func channelInactive(context: ChannelHandlerContext) {
        cleanUp()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cleanUp()
        self.context = nil
    }

    private func cleanUp() {
        guard lifecycle.end(self, bus: bus, subscriptions: slots.lazy.compactMap { $0?.busSubscription }) else {
            return
        }
        _ = machine.closeRequested()
        slots.removeAll()
        subscriptionsBySID.removeAll()
        unread = nil
    }

    // MARK: - Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        machine.dataReceived()
        // One clock read per read: every message in it arrived at the same time.
        readTime = bus.clock()
        if var unread {
            // Only an operation that spans reads is copied.
            self.unread = nil
            unread.writeBuffer(&buffer)
            buffer = unread
        }
        if heldForAuthentication {
            buffer.discardReadBytes()
            unread = buffer
            return
        }
        parse(&buffer)
    }

    /// Runs the operations in `buffer`; keeps what is left (a partial operation, or input held while a
    /// password is checked) in `unread`.
    private func parse(_ buffer: inout ByteBuffer) {
        while !machine.isClosed && !heldForAuthentication {
            let operation: NATSParsedOperation?
            do {
                operation = try parser.nextInPlace(&buffer)
            } catch {
                finishRead()
                return fail(error)
            }
            switch operation {
            case nil:
                break
            case .publish(let layout):
                // Read where it lies, then skipped.
                handlePublish(layout, in: buffer)
                buffer.moveReaderIndex(forwardBy: layout.length)
                continue
            case .other(let operation):
                handle(operation)
                continue
            }
            break
        }
        if buffer.readableBytes > 0 && !machine.isClosed {
            // Keep only the tail, at the front of its storage: appending the next read to a buffer whose
            // consumed bytes stay in front would grow it without bound (and past the 16 MiB where NIO
            // can no longer slice it without copying).
            buffer.discardReadBytes()
            unread = buffer
        }
        finishRead()
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
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    @inline(__always)
    private func handle(_ operation: consuming NATSClientOperation) {
        if case .connect(let options) = operation { return connect(options) }
        switch machine.operationReceived() {
        case .ignore:
            return
        case .refuse(let error):
            writeErrorAndClose(error)
        case .handle(let acknowledge):
            if perform(operation) && acknowledge { NATSEncoder.ok(&out) }
        }
    }

    /// A `PUB`/`HPUB` at `buffer`'s reader index. The common case — a publisher repeating its subject,
    /// without reply or headers — is published from the read buffer directly; anything else becomes an
    /// operation value first.
    @inline(__always)
    private func handlePublish(_ layout: NATSPublishLayout, in buffer: ByteBuffer) {
        switch machine.operationReceived() {
        case .ignore:
            return
        case .refuse(let error):
            writeErrorAndClose(error)
        case .handle(let acknowledge):
            let handled: Bool
            if !layout.hasHeaders, !layout.hasReply, let lastTopic, layout.subjectEquals(lastSubject, in: buffer) {
                publishedInRead += 1
                publishedBytesInRead += layout.payloadSize
                if shard.isRouted(lastTopic) {
                    shard.publish(
                        BusMessage(
                            topic: lastTopic, payload: layout.payload(in: buffer), publisherID: info.id,
                            timestamp: readTime))
                }
                handled = true
            } else {
                handled = publish(layout.publish(in: buffer))
            }
            if handled && acknowledge { NATSEncoder.ok(&out) }
        }
    }

    /// Runs one operation; true when verbose mode acknowledges it with `+OK` (false after a refusal, for
    /// which an `-ERR` was written, and for PING/PONG).
    @inline(__always)
    private func perform(_ operation: borrowing NATSClientOperation) -> Bool {
        switch operation {
        case .publish(let publish): return self.publish(publish)
        case .subscribe(let subject, let queue, let sid): return subscribe(subject: subject, queue: queue, sid: sid)
        case .unsubscribe(let sid, let maxMessages): return unsubscribe(sid: sid, maxMessages: maxMessages)
        // As nats-server: verbose mode acknowledges PUB, SUB and UNSUB, not PING or PONG.
        case .ping: pong()
        case .pong: machine.pongReceived()
        case .ignored, .connect: break
        }
        return false
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

    private func connect(_ options: NATSConnectOptions) {
        // user/pass for static users; auth_token, jwt or a lone pass carry a token.
        let credentials = ClientCredentials(
            username: options.user, password: options.password, token: options.authToken ?? options.jwt,
            clientID: info.id, certificateSubject: context?.channel.verifiedClientCommonName)
        if !credentialsPrepared, let preparing = services.authenticator.prepare(credentials, on: eventLoop) {
            // A password check may hash for a while: off the loop, with this client's input held.
            heldForAuthentication = true
            preparing.whenComplete { [self] _ in
                credentialsPrepared = true
                heldForAuthentication = false
                guard !machine.isClosed, context != nil else { return }
                connect(options)
                if var buffer = unread {
                    unread = nil
                    parse(&buffer)
                }
                flushOut()
            }
            return
        }
        let outcome = services.authenticator.authenticate(credentials)
        var user: String?
        let authenticated: Bool
        switch outcome {
        case .accepted(let identity):
            authenticated = true
            user = identity.userID
            lifecycle.identity = identity
        case .refused:
            services.counters.countAuthenticationFailure()
            authenticated = false
        }
        switch machine.connectReceived(options, authenticated: authenticated) {
        case .ignore:
            return
        case .refuse(let error):
            writeErrorAndClose(error)
        case .accept(let acknowledge):
            self.options = options
            authenticationDeadline = nil
            let name = options.name
            lifecycle.update {
                $0.userID = user
                $0.name = name
            }
            if acknowledge { NATSEncoder.ok(&out) }
        }
    }

    // MARK: - Publishing

    private func publish(_ publish: borrowing NATSPublish) -> Bool {
        if publish.hasHeaders && !options.headers {
            writeErrorAndClose(.headersNotEnabled)
            return false
        }
        let topic: Topic
        if let lastTopic, publish.subjectEquals(lastSubject) {
            topic = lastTopic
        } else {
            guard let resolved = publishTopic(publish.subject) else {
                sendError(.invalidPublishSubject)
                return false
            }
            guard identity.permissions.mayPublish(resolved) else {
                services.counters.countPermissionDenied()
                sendError(.publishPermissionsViolation(String(buffer: publish.subject)))
                return false
            }
            topic = resolved
            lastTopic = resolved
            lastSubject = ByteBuffer(buffer: publish.subject)  // a copy: the read buffer is not kept alive
        }
        // nil: no headers (made only once the message is, so a publication nobody reads makes none).
        var headers: MessageHeaders?
        if publish.hasHeaders, let block = publish.headers {
            do {
                headers = try NATSHeaderBlock.parse(block).messageHeaders
            } catch {
                fail(error)
                return false
            }
        }
        var replyTopic: Topic?
        if publish.hasReply, let reply = publish.replyTo {
            guard let resolved = publishTopic(reply) else {
                sendError(.invalidPublishSubject)
                return false
            }
            replyTopic = resolved
            if headers == nil { headers = MessageHeaders() }
            headers!.replyTo = resolved.name
            if topic.name.hasPrefix("$JS/") {
                answerJetStreamUnavailable(replyTo: resolved)
                return true
            }
        }
        shard.stats.published(slot: metricsSlot, bytes: publish.payloadSize)
        guard shard.isRouted(topic) else {
            // Nobody listens and nothing is kept: no message to build.
            if options.noResponders, let replyTopic, let replySubject = publish.replyTo {
                sendNoResponders(replySubject: replySubject, replyTopic: replyTopic)
            }
            return true
        }
        let message = BusMessage(
            topic: topic, payload: publish.payload, headers: headers ?? MessageHeaders(), publisherID: info.id,
            timestamp: readTime)
        guard options.noResponders, let replyTopic, let replySubject = publish.replyTo else {
            shard.publish(message)
            return true
        }
        // No responders: a request nobody receives is answered at once with a 503 status.
        let subject = replySubject
        let deferred: (PublishResult) -> Void = { [self] result in
            if result.recipients == 0 {
                sendNoResponders(replySubject: subject, replyTopic: replyTopic)
                flushOut()
            }
        }
        if let result = shard.publish(message, whenDeferred: deferred), result.recipients == 0 {
            sendNoResponders(replySubject: subject, replyTopic: replyTopic)
        }
        return true
    }

    /// The topic for a concrete subject, or nil when the subject is not one.
    private func publishTopic(_ subject: ByteBuffer) -> Topic? {
        guard let name = try? NATSSubjectMapping.topicName(forSubject: String(buffer: subject)) else { return nil }
        return try? Topic(name, limits: bus.configuration.topicLimits)
    }

    /// Writes the 503 status message to this connection's subscription on the reply subject (the
    /// reference server sends it to the requester alone).
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

    /// JetStream is not part of this server yet: its API requests get JetStream's own "not enabled"
    /// answer (what nats-server says when JetStream is off), not silence.
    private func answerJetStreamUnavailable(replyTo: Topic) {
        let payload = ByteBuffer(
            string:
                #"{"type":"io.nats.jetstream.api.v1.error_response","error":{"code":503,"err_code":10076,"description":"jetstream not enabled"}}"#
        )
        shard.publish(
            BusMessage(
                topic: replyTo, payload: payload, headers: MessageHeaders(contentType: "application/json"),
                timestamp: bus.clock()))
    }

    // MARK: - Subscribing

    private func subscribe(subject: String, queue: String?, sid: String) -> Bool {
        if subscriptionsBySID[sid] != nil { return true }  // as the reference server: a repeated sid is a no-op
        if limits.maxSubscriptions > 0 && subscriptionsBySID.count >= limits.maxSubscriptions {
            sendError(.maxSubscriptionsExceeded)
            return false
        }
        guard let text = try? NATSSubjectMapping.filterText(forSubject: subject, queue: queue),
            let filter = try? TopicFilter(text, limits: bus.configuration.topicLimits)
        else {
            sendError(.invalidSubject)
            return false
        }
        guard identity.permissions.maySubscribe(filter) else {
            services.counters.countPermissionDenied()
            sendError(.subscriptionPermissionsViolation(subject, queue: queue))
            return false
        }
        let result = bus.subscribe(
            filter, subscriber: self, subscriberID: info.id, options: SubscriptionOptions(noLocal: !options.echo),
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
        lifecycle.update { $0.subscriptions.append(subject) }
        return true
    }

    private func unsubscribe(sid: String, maxMessages: Int?) -> Bool {
        // An unknown sid is a no-op, as in nats-server.
        guard let subscription = subscriptionsBySID[sid] else { return true }
        if let maxMessages, maxMessages > subscription.delivered {
            subscription.maxMessages = maxMessages
            return true
        }
        remove(subscription)
        return true
    }

    private func remove(_ subscription: NATSSubscription) {
        let slot = subscription.busSubscription.localIndex
        guard slot < slots.count, slots[slot] === subscription else { return }
        bus.unsubscribe(subscription.busSubscription, presenceClientID: info.id)
        slots[slot] = nil
        freeSlots.append(slot)
        subscriptionsBySID[subscription.sid] = nil
        let subject = subscription.subject
        lifecycle.update { info in
            if let index = info.subscriptions.firstIndex(of: subject) { info.subscriptions.remove(at: index) }
        }
    }

    // MARK: - Deliveries (BusSubscriber)

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard message.isPublication, !machine.isClosed else { return .skipped }
        let slot = subscription.localIndex
        guard slot < slots.count, let entry = slots[slot], entry.busSubscription === subscription else {
            return .skipped
        }
        guard writable, out.readableBytes < limits.maxPending else { return slowConsumer() }
        let topic = message.topic
        if !topic.isIdentical(to: entry.messagePrefixTopic) && topic != entry.messagePrefixTopic {
            if topic != lastDeliveredTopic {
                lastDeliveredTopic = topic
                lastDeliveredSubject = ByteBuffer(string: NATSSubjectMapping.subject(forTopic: topic.name))
            }
            entry.messagePrefixTopic = topic
            entry.messagePrefix.clear()
            NATSEncoder.messagePrefix(&entry.messagePrefix, subject: lastDeliveredSubject, sid: entry.sidBytes)
        }
        let headers = message.headers
        let before = out.writerIndex
        if headers.isEmpty {
            // No reply subject, no header block: the common case, without reading either.
            NATSEncoder.message(&out, prefix: entry.messagePrefix, replyTo: nil, payload: message.payload)
        } else {
            writeMessage(message, headers: headers, entry: entry, context: &context)
        }
        entry.delivered += 1
        if let maximum = entry.maxMessages, entry.delivered >= maximum { remove(entry) }
        return .delivered(bytes: out.writerIndex - before)
    }

    /// `MSG` with a reply subject, or `HMSG` when the client takes headers and the message has some.
    private func writeMessage(
        _ message: BusMessage, headers: MessageHeaders, entry: NATSSubscription, context: inout DeliveryContext
    ) {
        let replyTo = headers.replyTo.map { ByteBuffer(string: NATSSubjectMapping.subject(forTopic: $0)) }
        if options.headers, headers.hasContentTypeOrProperties {
            let block = context.encoded(form: Self.headerWireForm) { message in
                var block = ByteBuffer()
                NATSHeaderBlock(message.headers)?.write(to: &block)
                return block
            }
            NATSEncoder.headerMessage(
                &out, subject: lastDeliveredSubject, sid: entry.sidBytes, replyTo: replyTo, headers: block,
                payload: message.payload)
        } else {
            NATSEncoder.message(&out, prefix: entry.messagePrefix, replyTo: replyTo, payload: message.payload)
        }
    }

    func flushDeliveries() { flushOut() }

    /// The reference server's policy: a connection that cannot keep up is closed (its client
    /// reconnects), so it never holds the server's memory or slows the publishers.
    private func slowConsumer() -> DeliveryOutcome {
        if machine.closeRequested() {
            services.counters.countSlowConsumer()
            // Not from inside the delivery loop: closing unsubscribes.
            eventLoop.execute { self.context?.close(promise: nil) }
        }
        return .dropped
    }

    // MARK: - Keep-alive and closing

    func keepAliveTick(now: NIODeadline) {
        if lifecycle.credentialsExpired(now: bus.clock()) {
            if machine.closeRequested() { return writeErrorAndClose(.userAuthenticationExpired) }
        }
        if let deadline = authenticationDeadline, now >= deadline {
            authenticationDeadline = nil
            if machine.authenticationTimerFired() { return writeErrorAndClose(.authenticationTimeout) }
        }
        guard now >= nextPing else { return }
        nextPing = now + .seconds(Int64(limits.pingIntervalSeconds))
        switch machine.pingTimerFired() {
        case .sendPing:
            NATSEncoder.ping(&out)
            flushOut()
        case .closeStale:
            writeErrorAndClose(.staleConnection)
        case .none:
            break
        }
    }

    func requestClose(_ reason: CloseReason) {
        eventLoop.execute {
            guard self.machine.closeRequested() else { return }
            switch reason {
            case .slowConsumer: self.writeErrorAndClose(.slowConsumer)
            case .keepAliveTimeout: self.writeErrorAndClose(.staleConnection)
            case .administrative: self.writeErrorAndClose(.closedByAdministrator)
            // Clients reconnect on their own; nats-server closes without a word.
            case .shutdown: self.context?.close(promise: nil)
            }
        }
    }

    /// A parser or handler error: the state machine decides whether it closes the connection.
    private func fail(_ error: NATSProtocolError) {
        switch machine.errorOccurred(error) {
        case .refuse(let error):
            if error.closesConnection { writeErrorAndClose(error) } else { sendError(error) }
        case .handle, .ignore:
            break
        }
    }

    private func sendError(_ error: NATSProtocolError) {
        NATSEncoder.error(&out, error)
    }

    private func writeErrorAndClose(_ error: NATSProtocolError) {
        NATSEncoder.error(&out, error)
        guard let context else { return }
        ConnectionLifecycle.writeAndClose(wrapOutboundOut(out), context: context)
        out.clear()
    }

    // MARK: - Writing

    private func flushOut() {
        guard out.readableBytes > 0, let context else { return }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        if out.capacity > Self.keptOutboundCapacity {
            out = context.channel.allocator.buffer(capacity: 256)
        } else {
            // When the socket took the bytes at once, the storage is ours again and is reused as is.
            out.clear()
        }
    }
}
