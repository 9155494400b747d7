import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOWebSocket
import NativeWebSocketWire

/// One native WebSocket connection: decodes requests, consults the state machine, runs its actions
/// against the bus, and receives deliveries as a `BusSubscriber`. Confined to its event loop: the only
/// entry from other threads is `requestClose`, which hops onto it (hence `@unchecked Sendable`).
final class NativeWSConnectionHandler: FrontendConnectionHandler, BusSubscriber, KeepAliveParticipant,
    ConnectionController,
    @unchecked Sendable
{
    typealias InboundIn = WebSocketFrame

    /// The id of the one wire form this protocol pushes, for `DeliveryContext`'s encode-once cache.
    static let pushWireForm = WireFormKey(NativeWSConnectionHandler.self)

    let services: NativeWSServices
    let metricsSlot: ProtocolMetricsSlot
    var deliveryMark: UInt64 = 0
    private(set) var eventLoop: any EventLoop
    var machine: NativeWSSessionStateMachine
    /// Registry entry, keep-alive, identity and the one clean-up (FrontendKit).
    var lifecycle: ConnectionLifecycle
    private var subscriptions: [String: BusSubscription] = [:]
    var context: ChannelHandlerContext?
    /// The channel's core, for deliveries: a pre-encoded frame needs no pipeline, so it is handed to
    /// the socket's write buffer directly (saves the context hops per subscriber per message).
    private var core: (any ChannelCore)?
    /// TLS: deliveries go through the pipeline, which encrypts them (`mayWritePastPipeline`).
    private var writesThroughPipeline = false
    /// Mirrors the channel's writability (from `channelWritabilityChanged`), so the per-delivery check
    /// is a plain field read on this loop rather than an atomic through a strong channel reference.
    private var writable = true
    /// Publisher flow control, this connection as a subscriber that fell behind (`CongestedSubscriber`).
    var behind = CongestedSubscriber()
    /// Publisher flow control, this connection as a publisher: the subscribers that asked it to pause.
    var paused = PausedPublisher()
    private var needsFlush = false
    /// Deliveries written since the last flush, copied end to end (`coalescedFrameLimit`): handed to the socket as one
    /// buffer per flush, so a flush that carries several messages costs one pending write and one iovec,
    /// not one of each per message. Empty and without storage on an idle connection (`keepAliveTick`).
    private var out = ByteBuffer()
    /// With overlapping subscriptions a message is matched once per subscription; it is sent once.
    private var lastDelivered: BusMessage?
    /// Requests that came while a `connect` was checked off the loop (the state machine bounds them),
    /// offered again once it is answered.
    private var heldRequests: [NativeWSRequest] = []
    /// The content filter of the subscribe request being handled (`handle` → machine → `subscribe`).
    private var subscribingWith: RecordFilter?
    /// Keep-alive state, driven by the loop's `KeepAliveSweeper`.
    var keepAliveSlot = -1
    /// The negotiated `server_max_window_bits` when permessage-deflate is on, else 0: one byte rather than
    /// the parameters, since every idle connection carries it.
    private let deflateWindowBits: UInt8

    /// `upgradeCredentials`: what the upgrade request carried (accepted by the endpoint); the connection
    /// then starts connected as that user, without a `connect`.
    init(
        services: NativeWSServices, upgradeCredentials: ClientCredentials? = nil,
        deflate: WebSocketDeflateParameters? = nil
    ) {
        self.services = services
        self.deflateWindowBits = UInt8(deflate?.serverMaxWindowBits ?? 0)
        self.metricsSlot = services.metricsSlot
        let configuration = services.configuration
        self.machine = NativeWSSessionStateMachine(
            anonymousAllowed: services.authenticator.allowsAnonymous,
            timers: NativeWSSessionStateMachine.Timers(
                pingInterval: .seconds(Int64(configuration.pingIntervalSeconds)),
                pongTimeout: .seconds(Int64(configuration.pongTimeoutSeconds)),
                connectTimeout: .seconds(Int64(configuration.connectTimeoutSeconds))))
        self.lifecycle = services.shared.makeLifecycle(protocolName: "websocket")
        self.eventLoop = services.bus.shards[0].eventLoop
        if var credentials = upgradeCredentials {
            credentials.clientID = info.id
            if let identity = services.authenticator.authenticate(credentials).identity {
                lifecycle.identity = identity
                lifecycle.info.userID = identity.userID
                machine.connectedByUpgrade()
                return
            }
        }
        // Until a `connect`, an anonymous client has the anonymous rules; without anonymous access the
        // state machine refuses everything but `connect` anyway.
        lifecycle.identity =
            services.authenticator.authenticate(ClientCredentials(clientID: info.id)).identity
            ?? ClientIdentity(userID: nil, permissions: TopicPermissions(publish: .only([]), subscribe: .only([])))
    }

    var info: ConnectionInfo { _read { yield lifecycle.info } }
    private var identity: ClientIdentity { _read { yield lifecycle.identity } }

    var bus: Bus { services.shared.bus }
    var configuration: NativeWSConfiguration { services.configuration }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        eventLoop = context.eventLoop
        core = context.channel._channelCore
        writesThroughPipeline = !context.mayWritePastPipeline
        writable = context.channel.isWritable
        guard lifecycle.admit(remoteAddress: context.channel.remoteAddress, now: bus.clock(), controller: self) == nil
        else {
            close(.connectionLimit)
            return
        }
        machine.started(now: context.eventLoop.now)
        lifecycle.joinKeepAlive(self, on: context.eventLoop)
    }

    func connectionEnded() {
        guard lifecycle.end(self, bus: bus, subscriptions: subscriptions.values) else { return }
        behind.caughtUp(info.id, registry: services.shared.connections)
        core = nil
        out = ByteBuffer()
        subscriptions.removeAll()
    }

    // MARK: - Inbound frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        machine.frameReceived()
        switch frame.opcode {
        case .text:
            handleText(frame.unmaskedData)
        case .binary:
            sendError(id: nil, .badRequest, "binary frames are not part of switchboard.v1: send JSON text frames")
        case .ping:
            write(WebSocketFrameWriter.frame(.pong, payload: frame.unmaskedData))
        case .pong:
            break
        case .connectionClose:
            let answer = WebSocketCloseCode.answer(toCloseBody: frame.unmaskedData)
            if answer.isFailure {
                return close(code: WebSocketErrorCode(codeNumber: Int(answer.code)), reason: answer.reason)
            }
            run(machine.closeReceived(code: answer.code))
        default:
            close(.unexpectedOpcode)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable { behind.writable(info.id, registry: services.shared.connections) }
        context.fireChannelWritabilityChanged()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let answer = WebSocketCloseCode.forError(error) {
            close(code: WebSocketErrorCode(codeNumber: Int(answer.code)), reason: answer.reason)
        } else {
            context.close(promise: nil)
        }
    }

    private func handleText(_ bytes: ByteBuffer) {
        let request: NativeWSRequest
        do {
            request = try NativeWSRequestDecoder.decode(bytes)
        } catch {
            // RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection with 1007.
            if !bytes.withUnsafeReadableBytes(UTF8Validation.isValid) {
                close(code: .dataInconsistentWithMessage, reason: "text frame is not valid UTF-8")
            } else {
                sendError(id: error.id, error.code, error.message)
            }
            return
        }
        run(machine.requestReceived(request))
    }

    // MARK: - Requests

    private func handle(_ request: NativeWSRequest) {
        let id = request.id
        switch request.command {
        case .connect(let token, let name, let user, let password):
            let credentials = ClientCredentials(username: user, password: password, token: token, clientID: info.id)
            // A password is hashed off the loop the first time (PBKDF2 would stall every connection on it).
            guard let preparing = services.authenticator.prepare(credentials, on: eventLoop) else {
                return connect(id: id, credentials, name: name)
            }
            preparing.whenComplete { _ in
                guard self.context?.channel.isActive == true else { return }
                self.connect(id: id, credentials, name: name)
                self.flushIfNeeded()
            }
        case .refresh(let token):
            refresh(id: id, token: token)
        case .subscribe(let channel, let history, let recover, let contentFilter):
            if let contentFilter {
                do {
                    subscribingWith = try RecordFilter(parsing: contentFilter)
                } catch {
                    return sendError(id: id, .badRequest, "\"filter\": \(error)")
                }
            }
            // The machine answers at once; the filter rides along to `subscribe` through this field.
            defer { subscribingWith = nil }
            run(
                machine.subscribeReceived(
                    id: id, channel: channel, history: history, recover: recover,
                    topicLimits: bus.configuration.topicLimits, permissions: identity.permissions,
                    alreadySubscribed: subscriptions[channel] != nil, subscriptionCount: subscriptions.count,
                    maxSubscriptions: configuration.maxSubscriptions,
                    coveredByStream: { [bus] in bus.streams.covering($0) != nil }))
        case .unsubscribe(let channel):
            guard let subscription = subscriptions.removeValue(forKey: channel) else {
                return sendError(id: id, .notFound, "not subscribed to \(channel)")
            }
            bus.unsubscribe(subscription, presenceClientID: info.id)
            lifecycle.update { $0.subscriptions.removeAll { $0 == channel } }
            reply(id: id, type: "unsubscribed") { NativeWSEncoder.unsubscribed(&$0, channel: channel) }
        case .publish(let channel, let data, let event):
            guard let topic = topic(channel, id: id), mayPublish(topic, id: id), fitsSchema(topic, data, id: id)
            else { return }
            // Without an id a publish is fire-and-forget: no success reply (errors are still sent), and
            // nothing is allocated to wait for one.
            guard id != nil else { return publish(topic, data, event: event, reply: nil) }
            publish(topic, data, event: event) { handler, result in
                if let failure = result.failure { return handler.sendError(id: id, .unavailable, failure) }
                handler.reply(id: id, type: "published") { NativeWSEncoder.published(&$0, position: result.position) }
            }
        case .rpc(let channel, let data, let timeout):
            rpc(id: id, channel: channel, data: data, timeout: timeout)
        case .respond(let replyTopic, let data):
            guard let topic = topic(replyTopic, id: id, field: "reply") else { return }
            // Replies to an RPC inbox are always allowed (as NATS's allow_responses): the inbox is made
            // by the server per request, and answering it does not reach any other subscriber.
            guard topic.name.hasPrefix("$rpc/") || mayPublish(topic, id: id), fitsSchema(topic, data, id: id) else {
                return
            }
            publish(topic, data, reply: nil)
            if id != nil { reply(id: id, type: "responded") { _ in } }
        case .presence(let channel):
            guard let topic = topic(channel, id: id), mayRead(topic, id: id) else { return }
            guard bus.presence.policy.isEnabled(for: topic) else {
                return sendError(id: id, .notFound, "presence is not enabled for \(channel)")
            }
            let clients = bus.presence.clients(of: topic)
            reply(id: id, type: "presence") { NativeWSEncoder.presence(&$0, channel: channel, clients: clients) }
        case .history(let channel, let limit, let since):
            guard let topic = topic(channel, id: id), mayRead(topic, id: id) else { return }
            // With an engine the shared log is read first (docs/redis.md, "History across instances").
            let deferred = bus.refreshingHistory(of: [topic], on: eventLoop) { [self] in
                guard context?.channel.isActive == true else { return }
                history(id: id, channel: channel, topic: topic, limit: limit, since: since)
                flushIfNeeded()
            }
            if !deferred { history(id: id, channel: channel, topic: topic, limit: limit, since: since) }
        case .ping:
            reply(id: id, type: "pong") { _ in }
        }
    }

    /// Answers a `history` request from the topic's log.
    private func history(id: ByteBuffer?, channel: String, topic: Topic, limit: Int?, since: LogPosition?) {
        guard let read = bus.readHistory(topic, after: since, limit: limit ?? configuration.defaultHistoryLimit)
        else {
            return sendError(id: id, .notFound, "\(channel) keeps no history")
        }
        reply(id: id, type: "history") {
            NativeWSEncoder.history(
                &$0, channel: channel, position: read.position, recovered: read.recovered, messages: read.messages)
        }
    }

    private func connect(id: ByteBuffer?, _ credentials: ClientCredentials, name: String?) {
        switch services.authenticator.authenticate(credentials) {
        case .refused(let reason):
            machine.authenticated(false)
            services.counters.countAuthenticationFailure()
            sendError(id: id, .unauthorized, reason)
        case .accepted(let identity):
            machine.authenticated(true)
            lifecycle.identity = identity
            lifecycle.update {
                $0.userID = identity.userID
                $0.name = name
            }
            let client = info.id
            let ping = configuration.pingIntervalSeconds
            let expires = identity.expiresAt
            reply(id: id, type: "connected") {
                NativeWSEncoder.connected(&$0, client: client, pingSeconds: ping, expires: expires)
            }
        }
        // What came behind the connect runs now, as the user it signed in as (or refused, as before it).
        guard !heldRequests.isEmpty else { return }
        let held = heldRequests
        heldRequests = []
        for request in held { run(machine.requestReceived(request)) }
    }

    /// A new token for the same user: new permissions and expiry; the subscriptions stay (each was
    /// allowed when made). A refusal leaves the old token in force until it expires.
    private func refresh(id: ByteBuffer?, token: String) {
        guard let current = identity.userID else {
            return sendError(id: id, .unauthorized, "refresh needs a connect with a token first")
        }
        switch services.authenticator.authenticate(ClientCredentials(token: token, clientID: info.id)) {
        case .refused(let reason):
            sendError(id: id, .unauthorized, reason)
        case .accepted(let identity):
            guard identity.userID == current else {
                return sendError(id: id, .unauthorized, "the new token is for another user")
            }
            lifecycle.identity = identity
            let expires = identity.expiresAt
            reply(id: id, type: "refreshed") { NativeWSEncoder.refreshed(&$0, expires: expires) }
        }
    }

    /// Whether the client may publish to `topic`; answers `permission_denied` when not.
    private func mayPublish(_ topic: Topic, id: ByteBuffer?) -> Bool {
        if identity.permissions.mayPublish(topic) { return true }
        services.counters.countPermissionDenied()
        sendError(id: id, .permissionDenied, "not allowed to publish to \(topic.name)")
        return false
    }

    /// Whether `data` (a request's JSON `data`) satisfies the payload schemas of `topic`; answers
    /// `invalid_payload` naming the failing JSON Pointer when not (docs/topics.md, "Payload schemas").
    private func fitsSchema(_ topic: Topic, _ data: ByteBuffer, id: ByteBuffer?) -> Bool {
        guard let violation = services.payloadSchemas.check(topic, payload: data, contentType: "application/json")
        else { return true }
        sendError(id: id, .invalidPayload, violation.description)
        return false
    }

    /// Whether the client may read `topic` (history, presence); answers `permission_denied` when not.
    private func mayRead(_ topic: Topic, id: ByteBuffer?) -> Bool {
        if identity.permissions.mayRead(topic) { return true }
        services.counters.countPermissionDenied()
        sendError(id: id, .permissionDenied, "not allowed to read \(topic.name)")
        return false
    }

    /// A subscription the machine allowed: history first, then live messages. With an engine, a concrete
    /// channel's shared log is read first, so positions are the ones every instance agrees on.
    private func subscribe(
        id: ByteBuffer?, channel: String, _ filter: TopicFilter,
        history: NativeWSSessionStateMachine.HistoryRequest?
    ) {
        guard filter.shareGroup == nil, !filter.hasWildcards else {
            return subscribeNow(id: id, channel: channel, filter, history: history)
        }
        let contentFilter = subscribingWith
        let deferred = bus.refreshingHistory(of: [Topic(trusted: filter.pattern)], on: eventLoop) { [self] in
            guard context?.channel.isActive == true else { return }
            guard subscriptions[channel] == nil else {
                return sendError(id: id, .badRequest, "already subscribed to \(channel)")
            }
            subscribingWith = contentFilter
            defer { subscribingWith = nil }
            subscribeNow(id: id, channel: channel, filter, history: history)
            flushIfNeeded()
        }
        if !deferred { subscribeNow(id: id, channel: channel, filter, history: history) }
    }

    private func subscribeNow(
        id: ByteBuffer?, channel: String, _ filter: TopicFilter,
        history: NativeWSSessionStateMachine.HistoryRequest?
    ) {
        let request: Bus.HistoryRequest? =
            switch history {
            case .last(let count): .last(count)
            case .recover(let position, let fallback): .recover(position, fallback: fallback)
            case nil: nil
            }
        var options = identity.subscriptionOptions()
        options.contentFilter = subscribingWith
        let result = bus.subscribe(
            filter, subscriber: self, subscriberID: info.id,
            options: options, presence: info.presence,
            history: request,
            streamEnded: { [self] reason in
                // The stream it followed is gone: the subscription ends, and the client is told why.
                guard let current = subscriptions[channel], !current.isActive else { return }
                subscriptions[channel] = nil
                lifecycle.update { $0.subscriptions.removeAll { $0 == channel } }
                sendError(id: nil, .unavailable, "subscription to \(channel) ended: \(reason)")
                flushIfNeeded()
            })
        subscriptions[channel] = result.subscription
        lifecycle.update { $0.subscriptions.append(channel) }
        // Asked to recover and the log could not say: not recovered.
        let asksRecovery = if case .recover = history { true } else { false }
        let recovered = result.recovered ?? (asksRecovery ? false : nil)
        reply(id: id, type: "subscribed") {
            NativeWSEncoder.subscribed(
                &$0, channel: channel, position: result.position, recovered: recovered, messages: result.messages)
        }
    }

    private func rpc(id: ByteBuffer?, channel: String, data: ByteBuffer, timeout: Int?) {
        guard let topic = topic(channel, id: id), mayPublish(topic, id: id), fitsSchema(topic, data, id: id) else {
            return
        }
        let milliseconds = min(
            timeout ?? configuration.defaultRPCTimeoutMilliseconds, configuration.maxRPCTimeoutMilliseconds)
        shard.stats.published(slot: metricsSlot, bytes: data.readableBytes)
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        bus.request(
            topic: topic, payload: data, headers: MessageHeaders(contentType: "application/json"), requesterID: info.id,
            timeout: .milliseconds(Int64(milliseconds)), on: eventLoop
        ).whenComplete { result in
            let handler = bound.value
            switch result {
            case .success(let message):
                handler.reply(id: id, type: "reply") { buffer in
                    buffer.writeInteger(UInt8(ascii: ","))
                    buffer.writePayloadMember(message.payload, form: message.payloadForm)
                }
            case .failure(BusError.noResponders):
                handler.sendError(id: id, .unavailable, "no responders for \(channel)")
            case .failure(BusError.timeout):
                handler.sendError(id: id, .timeout, "no reply from \(channel) within \(milliseconds) ms")
            case .failure(let error):
                handler.sendError(id: id, .unavailable, "\(error)")
            }
            handler.flushIfNeeded()
        }
    }

    private var shard: LoopShard { bus.shard(for: eventLoop) }

    /// Publishes; `reply` (when given) gets the result at once, or later on this loop when another loop
    /// sequences the topic's log — then what it wrote is flushed right away.
    private func publish(
        _ topic: Topic, _ data: ByteBuffer, event: String? = nil,
        reply: ((NativeWSConnectionHandler, PublishResult) -> Void)?
    ) {
        let message = BusMessage(
            topic: topic, payload: data, headers: MessageHeaders(contentType: "application/json", eventType: event),
            publisherID: info.id, timestamp: bus.clock())
        let shard = self.shard
        shard.stats.published(slot: metricsSlot, bytes: data.readableBytes)
        guard let reply else {
            shard.publish(message)
            return
        }
        let deferred: (PublishResult) -> Void = { [self] result in
            reply(self, result)
            flushIfNeeded()
        }
        if let result = shard.publish(message, whenDeferred: deferred) { reply(self, result) }
    }

    /// A concrete topic from a request field, or nil after answering with the error.
    private func topic(_ name: String, id: ByteBuffer?, field: String = "channel") -> Topic? {
        do {
            return try Topic(name, limits: bus.configuration.topicLimits)
        } catch TopicError.wildcardInTopic {
            sendError(id: id, .badRequest, "\(field) \"\(name)\" is a filter: this request needs a concrete channel")
        } catch {
            sendError(id: id, .badRequest, "invalid \(field) \"\(name)\": \(error)")
        }
        return nil
    }

    // MARK: - Deliveries (BusSubscriber)

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard let core, !machine.isClosing else { return .skipped }
        if subscriptions.count > 1 {
            if lastDelivered === message { return .skipped }
            lastDelivered = message
        }
        if !writable, let refused = admitWhileBehind(message) { return refused }
        var frame = context.encoded(form: NativeWSConnectionHandler.pushWireForm) { message in
            WebSocketFrameWriter.textFrame(capacity: message.payload.readableBytes + 96) {
                BusJSON.message(&$0, message)
            }
        }
        if deflateWindowBits != 0, let compression = configuration.compressionParameters,
            frame.readableBytes >= compression.minimumBytes
        {
            // One compressed form per window size, shared by every connection that negotiated it: no
            // context takeover makes the compressed frame a function of the message alone.
            let plain = frame
            frame = context.encoded(
                form: WireFormKey(NativeWSConnectionHandler.self, variant: Int(deflateWindowBits))
            ) { _ in
                WebSocketFrameWriter.deflating(plain, deflate: deflateParameters, compression: compression)
            }
        }
        if frame.readableBytes <= Self.coalescedFrameLimit {
            out.writeImmutableBuffer(frame)
            // Handed over before the buffer grows large, so the channel's writability (and the slow-consumer
            // policy that reads it) lags a delivery by at most this much.
            if out.readableBytes >= Self.coalescedBytesLimit { handOverDeliveries(core) }
        } else {
            // A large frame is shared, not copied; what was coalesced before it goes first.
            handOverDeliveries(core)
            writeToChannel(frame, core)
        }
        return .delivered(bytes: frame.readableBytes)
    }

    /// A `subscribe` may `recover` from a position.
    var resumesFromPositions: Bool { true }

    func flushDeliveries() {
        lastDelivered = nil
        guard let core else { return }
        if out.readableBytes > 0 { writeToChannel(out, core) }
        if writesThroughPipeline { context?.flush() } else { core.flush0() }
        // The socket usually takes the bytes at once, and the storage is ours again: reused as it is.
        if out.capacity > Self.keptOutboundCapacity { out = ByteBuffer() } else { out.clear() }
    }

    /// Gives the channel what `out` holds, without flushing (the next flush sends it), and starts it afresh.
    private func handOverDeliveries(_ core: any ChannelCore) {
        guard out.readableBytes > 0 else { return }
        writeToChannel(out, core)
        out = ByteBuffer()
    }

    private func writeToChannel(_ bytes: ByteBuffer, _ core: any ChannelCore) {
        if writesThroughPipeline {
            context?.write(NIOAny(bytes), promise: nil)
        } else {
            core.write0(NIOAny(bytes), promise: nil)
        }
    }

    /// Frames up to this size are copied into `out`: a copy of a small frame costs less than the pending
    /// write and the kernel's per-iovec work it saves (kernel `_copy_from_iter` was 25 % of the fan-out
    /// profile with one iovec per 64-byte message). A larger frame is written as the shared buffer it is.
    static let coalescedFrameLimit = 2_048
    /// `out` is handed to the channel once it holds this much, before the flush.
    static let coalescedBytesLimit = 16 << 10
    /// A buffer that grew past this (a burst) is not kept for the next batch.
    static let keptOutboundCapacity = 64 << 10

    // MARK: - Keep-alive and closing

    func keepAliveTick(now: NIODeadline) {
        if lifecycle.credentialsExpired(now: bus.clock()) {
            // The token ran out without a `refresh`: 1008 with a reason the client can act on.
            return close(.tokenExpired)
        }
        if behind.isBehind || paused.isPaused { flowControlTick() }
        out.releaseStorageIfEmpty()
        run(machine.tick(now: now))
    }

    func requestClose(_ reason: CloseReason) {
        eventLoop.execute { self.serverClose(reason) }
    }

    func serverClose(_ reason: CloseReason) {
        switch reason {
        case .shutdown: close(.shutdown)
        case .administrative, .takenOver: close(.administrative)
        case .slowConsumer: close(.slowConsumer)
        case .keepAliveTimeout: close(.keepAliveTimeout)
        }
    }

    private func close(_ reason: NativeWSServerClose) {
        run(machine.closeRequested(code: reason.code, reason: reason.reason))
    }

    private func close(code: WebSocketErrorCode, reason: String) {
        run(machine.closeRequested(code: UInt16(webSocketErrorCode: code), reason: reason))
    }

    // MARK: - Running the machine's actions

    /// Carries out what the state machine decided: the one place its answers become IO.
    private func run(_ action: NativeWSSessionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .handle(let request):
            handle(request)
        case .refuse(let id, let code, let message):
            if code == .permissionDenied { services.counters.countPermissionDenied() }
            sendError(id: id, code, message)
        case .subscribe(let id, let channel, let filter, let history):
            subscribe(id: id, channel: channel, filter, history: history)
        case .hold(let request):
            heldRequests.append(request)
        case .sendPing:
            write(WebSocketFrameWriter.frame(.ping, payload: ByteBuffer()))
            flushIfNeeded()
        case .sendCloseAndClose(let code, let reason):
            writeClose(code: code, reason: reason)
        case .closeConnection:
            context?.close(promise: nil)
        }
    }

    private func writeClose(code: UInt16, reason: String) {
        guard let context else { return }
        // Deliveries coalesced so far go before the close frame.
        if let core { handOverDeliveries(core) }
        let frame = WebSocketFrameWriter.close(code: WebSocketErrorCode(codeNumber: Int(code)), reason: reason)
        ConnectionLifecycle.writeAndClose(NIOAny(frame), context: context)
    }

    // MARK: - Writing

    private var deflateParameters: WebSocketDeflateParameters {
        WebSocketDeflateParameters(serverMaxWindowBits: Int(deflateWindowBits))
    }

    private func reply(id: ByteBuffer?, type: StaticString, _ body: (inout ByteBuffer) -> Void) {
        writeMessage(
            WebSocketFrameWriter.textFrame { buffer in
                NativeWSEncoder.openReply(&buffer, id: id, type: type)
                body(&buffer)
                buffer.writeInteger(UInt8(ascii: "}"))
            })
    }

    private func sendError(id: ByteBuffer?, _ code: NativeWSErrorCode, _ message: String) {
        writeMessage(
            WebSocketFrameWriter.textFrame { NativeWSEncoder.error(&$0, id: id, code: code, message: message) })
    }

    /// Writes a text message frame, compressed when permessage-deflate was negotiated (control frames go
    /// through `write`: they are never compressed, RFC 7692 §6.1).
    private func writeMessage(_ frame: ByteBuffer) {
        guard deflateWindowBits != 0, let compression = configuration.compressionParameters else { return write(frame) }
        write(WebSocketFrameWriter.deflating(frame, deflate: deflateParameters, compression: compression))
    }

    private func write(_ frame: ByteBuffer) {
        guard let context else { return }
        // Deliveries coalesced so far go before it, in the order they were written.
        if let core { handOverDeliveries(core) }
        context.write(NIOAny(frame), promise: nil)
        needsFlush = true
    }

    private func flushIfNeeded() {
        guard needsFlush else { return }
        needsFlush = false
        context?.flush()
    }
}
