import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOWebSocket
import SignalRWire

/// One SignalR connection: the handshake, then hub messages in the protocol it chose (JSON or
/// MessagePack), the hub's methods run against the bus (SignalRConnectionHandler+Hub.swift), deliveries
/// as invocations of the client's `Receive`. On the WebSocket transport it is the channel's handler
/// (text or binary frames); on Server-Sent Events and long polling it stands alone, fed by POSTs and
/// writing to the event stream or the next poll (SignalRConnectionHandler+HTTPTransports.swift).
/// Confined to its event loop: requests from other loops (and `requestClose`) hop onto it.
final class SignalRConnectionHandler: FrontendConnectionHandler, BusSubscriber, KeepAliveParticipant,
    ConnectionController, @unchecked Sendable
{
    typealias InboundIn = WebSocketFrame

    enum Phase {
        /// Waiting for `{"protocol":…,"version":1}\u{1e}`.
        case handshake
        case open(SignalRHubProtocol)
        case closed
    }

    let services: SignalRServices
    let metricsSlot: ProtocolMetricsSlot
    /// Where messages to the client go: the WebSocket, the event stream or the pending poll.
    var outbound: SignalROutbound
    /// The connection token its HTTP requests carry (Server-Sent Events and long polling).
    let token: String?
    /// The hub it is connected to.
    let hub: String
    /// One of the conformance test hubs (`signalr.conformance_mode`): decided once, not on every
    /// invocation's path.
    let isConformanceHub: Bool
    var deliveryMark: UInt64 = 0
    var eventLoop: any EventLoop
    var lifecycle: ConnectionLifecycle
    var subscriptions: [String: BusSubscription] = [:]
    /// Client → server streams open on this connection, by stream id (SignalRConnectionHandler+Hub.swift).
    var uploads: [String: SignalRUpload] = [:]
    /// Invocations still waiting for their result (an `Rpc` waiting for its reply), by invocation id: a
    /// `CancelInvocation` completes them at once.
    var pendingInvocations: Set<String> = []
    var context: ChannelHandlerContext?
    /// The channel's core, for deliveries: a pre-encoded frame needs no pipeline.
    var core: (any ChannelCore)?
    var writable = true
    /// Publisher flow control (SignalRConnectionHandler+FlowControl.swift): this connection as a subscriber
    /// that fell behind, and as a publisher paused by one.
    var behind = CongestedSubscriber()
    var paused = PausedPublisher()
    /// Long polling: the answers to POSTs held while paused (`postAnswered`).
    let heldAnswers = HeldPublishAnswers()
    /// Stateful reconnect's numbering and replay buffer, when the client negotiated it
    /// (SignalRConnectionHandler+StatefulReconnect.swift).
    var resume: SignalRResumeState?
    /// The WebSocket of a reconnect: written through its channel's thread-safe API, since it may be on
    /// another loop than the connection.
    var remoteChannel: (any Channel)?
    /// When the WebSocket dropped, while the connection waits for its client to reconnect.
    var detachedSince: NIODeadline?
    var needsFlush = false
    /// With overlapping subscriptions a message is matched once per subscription; it is sent once.
    private var lastDelivered: BusMessage?
    var keepAliveSlot = -1
    var phase = Phase.handshake
    /// Bytes received and not yet a whole message (a message may span frames, a frame hold several).
    var inbound = ByteBuffer()
    private var textDecoder: SignalRTextFrameDecoder
    private let binaryDecoder: SignalRBinaryFrameDecoder
    var startedAt = NIODeadline.now()
    var lastReceived = NIODeadline.now()
    var lastSent = NIODeadline.now()
    var receivedSinceTick = false
    var sentSinceTick = false
    var deflate: (parameters: WebSocketDeflateParameters, compression: WebSocketCompression)?
    /// The user the connection was made for: a reconnect must present the same one.
    let authenticatedUser: String?

    init(
        services: SignalRServices, connectionID: String?, credentials: ClientCredentials,
        deflate: (parameters: WebSocketDeflateParameters, compression: WebSocketCompression)? = nil,
        outbound: SignalROutbound = .webSocket, token: String? = nil, eventLoop: (any EventLoop)? = nil,
        statefulReconnect: Bool = false, hub: String = "switchboard"
    ) {
        self.hub = hub
        self.isConformanceHub =
            services.configuration.conformanceMode && SignalRConformance.hubs.contains(hub)
        self.services = services
        self.metricsSlot = services.metricsSlot
        self.outbound = outbound
        self.token = token
        self.eventLoop = eventLoop ?? services.bus.shards[0].eventLoop
        self.deflate = deflate
        self.textDecoder = SignalRTextFrameDecoder(maxMessageSize: services.limits.maxMessageSize)
        self.binaryDecoder = SignalRBinaryFrameDecoder(maxMessageSize: services.limits.maxMessageSize)
        self.lifecycle = services.shared.makeLifecycle(protocolName: "signalr")
        var credentials = credentials
        credentials.clientID = lifecycle.info.id
        // Accepted when the upgrade was (SignalREndpoint.negotiate); made again with this connection's id.
        if let identity = services.authenticator.authenticate(credentials).identity {
            lifecycle.identity = identity
            lifecycle.info.userID = identity.userID
        } else {
            lifecycle.identity = ClientIdentity(
                userID: nil, permissions: TopicPermissions(publish: .only([]), subscribe: .only([])))
        }
        if let connectionID { lifecycle.info.name = connectionID }
        authenticatedUser = lifecycle.info.userID
        if statefulReconnect {
            resume = SignalRResumeState(bufferLimit: services.configuration.statefulReconnectBufferSize)
        }
    }

    var info: ConnectionInfo { _read { yield lifecycle.info } }
    var identity: ClientIdentity { _read { yield lifecycle.identity } }
    var bus: Bus { services.shared.bus }
    var configuration: SignalRConfiguration { services.configuration }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        eventLoop = context.eventLoop
        // Under TLS everything goes through the context, which encrypts it.
        core = context.mayWritePastPipeline ? context.channel._channelCore : nil
        writable = context.channel.isWritable
        startedAt = context.eventLoop.now
        lastReceived = startedAt
        lastSent = startedAt
        guard lifecycle.admit(remoteAddress: context.channel.remoteAddress, now: bus.clock(), controller: self) == nil
        else {
            phase = .closed
            writeClose(code: .policyViolation, reason: "connection limit")
            return
        }
        lifecycle.joinKeepAlive(self, on: context.eventLoop)
    }

    /// The transport has gone: the connection ends — unless it waits for a stateful reconnect.
    func connectionEnded() {
        // Its socket is gone: whatever it held paused goes on (a reconnect's buffer is bounded on its own).
        behind.caughtUp(info.id, registry: services.connections)
        heldAnswers.releaseAll()
        if waitsForReconnect { return detach() }
        phase = .closed
        guard lifecycle.end(self, bus: bus, subscriptions: subscriptions.values) else { return }
        core = nil
        subscriptions.removeAll()
        if resume != nil, let token { services.unregisterResumable(self, token: token) }
        httpTransportEnded()
    }

    /// Only this connection's own channel ends it: after a reconnect, the old channel's late
    /// notifications are not about it any more.
    func channelInactive(context: ChannelHandlerContext) {
        if context === self.context { connectionEnded() }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        guard context === self.context else { return }
        connectionEnded()
        self.context = nil
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        receive(unwrapInboundIn(data))
    }

    /// One WebSocket frame from the client (from this channel, or a reconnect's).
    func receive(_ frame: WebSocketFrame) {
        switch frame.opcode {
        case .text, .binary, .continuation:
            var payload = frame.unmaskedData
            receivedSinceTick = true
            inbound.writeBuffer(&payload)
            processInbound()
        case .ping:
            write(WebSocketFrameWriter.frame(.pong, payload: frame.unmaskedData))
        case .pong:
            break
        case .connectionClose:
            let answer = WebSocketCloseCode.answer(toCloseBody: frame.unmaskedData)
            phase = .closed
            writeClose(code: WebSocketErrorCode(codeNumber: Int(answer.code)), reason: answer.reason)
        default:
            writeClose(code: .protocolError, reason: "unexpected opcode")
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable { behind.writable(info.id, registry: services.connections) }
        context.fireChannelWritabilityChanged()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let answer = WebSocketCloseCode.forError(error) {
            writeClose(code: WebSocketErrorCode(codeNumber: Int(answer.code)), reason: answer.reason)
        } else {
            context.close(promise: nil)
        }
    }

    /// Every whole message in `inbound`, in order.
    func processInbound() {
        do throws(SignalRWireError) {
            while true {
                switch phase {
                case .closed:
                    return
                case .handshake:
                    guard let message = try textDecoder.next(&inbound) else { return compactInbound() }
                    handshake(message)
                case .open(let hubProtocol):
                    let message: SignalRHubMessage
                    if hubProtocol == .json {
                        guard let bytes = try textDecoder.next(&inbound) else { return compactInbound() }
                        message = try SignalRHubMessage.decodeJSON(bytes, limits: services.limits)
                    } else {
                        guard let bytes = try binaryDecoder.next(&inbound) else { return compactInbound() }
                        message = try SignalRHubMessage.decodeMessagePack(bytes, limits: services.limits)
                    }
                    handle(message)
                }
            }
        } catch {
            if case .handshake = phase { return refuseHandshake(error.message) }
            closeWithError(error.message)
        }
    }

    /// Drops what was read, so a long connection's buffer does not grow.
    private func compactInbound() {
        if inbound.readableBytes == 0 {
            inbound.clear()
        } else if inbound.readerIndex > 4_096 {
            inbound.discardReadBytes()
        }
    }

    private func handshake(_ message: ByteBuffer) {
        do throws(SignalRWireError) {
            let request = try SignalRHandshakeRequest.decode(message)
            let hubProtocol = try request.selectProtocol(transportIsBinary: outbound.carriesBinary)
            phase = .open(hubProtocol)
            joinUserChannel()
            if isConformanceHub { joinConformanceHub() }
            var response = ByteBuffer()
            SignalRHandshakeResponse.write(into: &response)
            // The handshake response is JSON text whatever the protocol (a text frame).
            writeFrame(response, binary: false)
        } catch {
            refuseHandshake(error.message)
        }
    }

    private func refuseHandshake(_ reason: String) {
        var response = ByteBuffer()
        SignalRHandshakeResponse.write(error: reason, into: &response)
        writeFrame(response, binary: false)
        phase = .closed
        writeClose(code: .normalClosure, reason: "")
    }

    private func handle(_ message: SignalRHubMessage) {
        guard resume == nil || admitForResume(message) else { return }
        switch message {
        case .invocation(let invocation) where !invocation.streamIDs.isEmpty:
            invokeWithStreams(invocation)
        case .invocation(let invocation):
            invoke(invocation.target, invocation.arguments, id: invocation.invocationID)
        case .streamInvocation(let invocation) where !invocation.streamIDs.isEmpty:
            complete(invocation.invocationID, error: "'\(invocation.target)' does not take a client stream.")
        case .streamInvocation(let invocation):
            invokeStream(invocation.target, invocation.arguments, id: invocation.invocationID)
        case .streamItem(let item):
            uploadItemReceived(item)
        case .completion(let completion):
            uploadCompleted(completion)
        case .close:
            phase = .closed
            writeClose(code: .normalClosure, reason: "")
        case .cancelInvocation(let cancel):
            // HubProtocol.md §Cancellation: a Completion is still owed; History streams all it has at once,
            // so only a waiting Rpc can be canceled. An id that is not running is ignored.
            if pendingInvocations.remove(cancel.invocationID) != nil {
                complete(cancel.invocationID, error: "Invocation canceled by the client.")
            }
        case .ping, .ack, .sequence, .unknown:
            // Keep-alive (already counted), stateful reconnect's (handled above, or not negotiated), a
            // future type: ignored, as ASP.NET Core ignores them.
            break
        }
    }

    // MARK: - Keep-alive

    func keepAliveTick(now: NIODeadline) {
        if case .serverSentEvents(let writer) = outbound { writer?.releaseIdleStorage() }
        if behind.isBehind || paused.isPaused { flowControlTick() }
        if receivedSinceTick {
            receivedSinceTick = false
            lastReceived = now
        }
        if sentSinceTick {
            sentSinceTick = false
            lastSent = now
        }
        switch phase {
        case .closed:
            return
        case .handshake:
            if now - startedAt > .milliseconds(Int64(configuration.handshakeTimeoutMilliseconds)) {
                phase = .closed
                writeClose(code: .normalClosure, reason: "handshake timeout")
            } else if case .longPolling(let poll) = outbound {
                longPollTick(poll, now: now)
            }
        case .open:
            if let detachedSince {
                // Waiting for a reconnect: no pings, no client timeout, but not for ever.
                if now - detachedSince > .milliseconds(Int64(configuration.disconnectTimeoutMilliseconds)) {
                    phase = .closed
                    connectionEnded()
                }
                return
            }
            acknowledgeIfNeeded()
            if lifecycle.credentialsExpired(now: bus.clock()) {
                return closeWithError("The access token expired.")
            }
            // Long polling's keep-alive is its polls (ASP.NET Core: an inherent keep-alive): no client
            // timeout, but a poll held too long is answered and a client that stops polling ends. Pings
            // still go out when idle: a client that reads one message per poll answer (signalrcore) gets
            // the rest of a batched answer with them.
            if case .longPolling(let poll) = outbound {
                longPollTick(poll, now: now)
                guard case .open = phase else { return }
            } else if now - lastReceived > .milliseconds(Int64(configuration.clientTimeoutMilliseconds)) {
                return closeWithError("Server timeout elapsed without receiving a message from the client.")
            }
            if now - lastSent >= .milliseconds(Int64(configuration.keepAliveMilliseconds)) {
                send(.ping)
                flushIfNeeded()
                lastSent = now
            }
        }
    }

    func requestClose(_ reason: CloseReason) {
        eventLoop.execute {
            switch reason {
            case .shutdown: self.closeWithError("Server is shutting down.", allowReconnect: true)
            default: self.closeWithError("Connection closed by the server (\(reason)).")
            }
        }
    }

    // MARK: - Deliveries (BusSubscriber)

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard case .open(let hubProtocol) = phase else { return .skipped }
        if subscriptions.count > 1 {
            if lastDelivered === message { return .skipped }
            lastDelivered = message
        }
        guard case .webSocket = outbound else {
            return deliverOverHTTP(message, json: hubProtocol == .json, context: &context)
        }
        if !writable, detachedSince == nil, let refused = admitWhileBehind(message) { return refused }
        let json = hubProtocol == .json
        let frame = context.encoded(form: WireFormKey(SignalRConnectionHandler.self, variant: json ? 0 : 1)) {
            message in SignalRConnectionHandler.deliveryFrame(message, json: json)
        }
        if resume != nil {
            resume!.record(frame)
            if resume!.overflowed, detachedSince != nil {
                // Too much arrived while the client was away: it cannot resume without a gap.
                phase = .closed
                connectionEnded()
                return .dropped
            }
        }
        sentSinceTick = true
        if let core, deflate == nil {
            core.write0(NIOAny(frame), promise: nil)
            needsFlush = true
        } else {
            writeWebSocketFrame(frame)
        }
        return .delivered(bytes: frame.readableBytes)
    }

    /// Stateful reconnect and `recover` resume from a position.
    var resumesFromPositions: Bool { true }

    func flushDeliveries() {
        flushIfNeeded()
        lastDelivered = nil
    }

    func slowConsumer() -> DeliveryOutcome {
        if configuration.slowConsumerPolicy == .disconnect {
            services.counters.countSlowConsumer()
            closeWithError("The client is too slow: its outbound buffer is full.")
        }
        return .dropped
    }

    /// An invocation of the client's `Receive` (or the message's event type; presence changes call `Join`
    /// and `Leave`) with the message as its one argument — BusJSON's object: type, channel, data, event,
    /// offset and epoch. One WebSocket frame: text with the record separator for JSON, binary with the
    /// length prefix for MessagePack.
    static func deliveryFrame(_ message: BusMessage, json: Bool) -> ByteBuffer {
        if json {
            return WebSocketFrameWriter.textFrame(capacity: message.payload.readableBytes + 128) { buffer in
                writeDeliveryJSON(&buffer, message)
            }
        }
        return WebSocketFrameWriter.frame(.binary, payload: deliveryMessage(message, json: false))
    }

    /// The delivery's hub message alone (JSON with its record separator, or MessagePack with its length
    /// prefix): what long polling answers and Server-Sent Events wrap.
    static func deliveryMessage(_ message: BusMessage, json: Bool) -> ByteBuffer {
        if json {
            var buffer = ByteBuffer()
            buffer.reserveCapacity(message.payload.readableBytes + 128)
            writeDeliveryJSON(&buffer, message)
            return buffer
        }
        let arguments: [SignalRPayload]
        if message.headers.contentType == SignalRConformance.argumentsContentType {
            guard case .array(let items) = SignalRPayload.json(message.payload).messagePackValue else {
                return ByteBuffer()
            }
            arguments = items.map { .messagePack($0) }
        } else {
            var object = ByteBuffer()
            BusJSON.message(&object, message)
            arguments = [.messagePack(SignalRPayload.json(object).messagePackValue)]
        }
        let invocation = SignalRHubMessage.invocation(
            SignalRInvocation(invocationID: nil, target: deliveryTarget(message), arguments: arguments))
        var body = ByteBuffer()
        invocation.writeMessagePack(into: &body)
        return body
    }

    private static func deliveryTarget(_ message: BusMessage) -> String {
        switch message.kind {
        case .publish: message.headers.eventType ?? "Receive"
        case .join: "Join"
        case .leave: "Leave"
        }
    }

    private static func writeDeliveryJSON(_ buffer: inout ByteBuffer, _ message: BusMessage) {
        buffer.writeStaticString("{\"type\":1,\"target\":")
        buffer.writeJSONString(deliveryTarget(message))
        if message.headers.contentType == SignalRConformance.argumentsContentType {
            // The payload is the argument list itself.
            buffer.writeStaticString(",\"arguments\":")
            buffer.writeImmutableBuffer(message.payload)
            buffer.writeStaticString("}")
            buffer.writeInteger(SignalRTextFrameDecoder.recordSeparator)
            return
        }
        buffer.writeStaticString(",\"arguments\":[")
        BusJSON.message(&buffer, message)
        buffer.writeStaticString("]}")
        buffer.writeInteger(SignalRTextFrameDecoder.recordSeparator)
    }

    // MARK: - Writing

    /// Writes a hub message in the connection's protocol.
    func send(_ message: SignalRHubMessage) {
        guard case .open(let hubProtocol) = phase else { return }
        var buffer = ByteBuffer()
        if hubProtocol == .json {
            message.writeJSON(into: &buffer)
        } else {
            message.writeMessagePack(into: &buffer)
        }
        writeFrame(buffer, binary: hubProtocol == .messagePack, trackable: message.isTrackable)
    }

    /// A Completion for an invocation that asked for one (no id: nothing is answered).
    func complete(_ id: String?, result: SignalRPayload? = nil, error: String? = nil) {
        guard let id else { return }
        let outcome: SignalRCompletion.Outcome =
            if let error { .error(error) } else if let result { .result(result) } else { .void }
        send(.completion(SignalRCompletion(invocationID: id, outcome: outcome)))
    }

    private func writeFrame(_ payload: ByteBuffer, binary: Bool, trackable: Bool = false) {
        guard case .webSocket = outbound else { return writeOverHTTP(payload) }
        let frame = WebSocketFrameWriter.frame(binary ? .binary : .text, payload: payload)
        // Kept as written before compression: a replay goes out on the reconnect's own compression.
        if trackable { resume?.record(frame) }
        writeWebSocketFrame(frame)
    }

    /// A whole frame, compressed when the WebSocket is; nothing while waiting for a reconnect (a
    /// trackable frame is in the replay buffer by then).
    func writeWebSocketFrame(_ frame: ByteBuffer) {
        var frame = frame
        if let deflate {
            frame = WebSocketFrameWriter.deflating(frame, deflate: deflate.parameters, compression: deflate.compression)
        }
        sentSinceTick = true
        write(frame)
    }

    private func write(_ frame: ByteBuffer) {
        if let context {
            context.write(NIOAny(frame), promise: nil)
        } else if let remoteChannel {
            remoteChannel.write(NIOAny(frame), promise: nil)
        } else {
            return
        }
        needsFlush = true
    }

    func flushIfNeeded() {
        guard needsFlush else { return }
        needsFlush = false
        switch outbound {
        case .webSocket:
            if let core {
                core.flush0()
            } else if let context {
                context.flush()
            } else {
                remoteChannel?.flush()
            }
        case .serverSentEvents(let writer): writer?.flush()
        case .longPolling(let poll): answerPoll(poll)
        }
    }

    /// A protocol error or a server-side end: a Close message with the reason, then the socket closes.
    func closeWithError(_ reason: String, allowReconnect: Bool = false) {
        guard case .open = phase else {
            if case .handshake = phase {
                phase = .closed
                writeClose(code: .normalClosure, reason: "")
            }
            return
        }
        send(.close(SignalRClose(error: reason, allowReconnect: allowReconnect)))
        phase = .closed
        writeClose(code: .normalClosure, reason: "")
    }

    private func writeClose(code: WebSocketErrorCode, reason: String) {
        guard case .webSocket = outbound else { return connectionEnded() }
        guard let context else {
            flushIfNeeded()
            guard let remoteChannel else { return connectionEnded() }
            remoteChannel.writeAndFlush(NIOAny(WebSocketFrameWriter.close(code: code, reason: reason))).whenComplete {
                _ in remoteChannel.close(promise: nil)
            }
            return
        }
        flushIfNeeded()
        ConnectionLifecycle.writeAndClose(
            NIOAny(WebSocketFrameWriter.close(code: code, reason: reason)), context: context)
    }
}
