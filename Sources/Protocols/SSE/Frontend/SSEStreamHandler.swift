import BusCore
import BusRuntime
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import SSEWire

/// One Server-Sent Events stream (`/sse`, or `/api/realtime` with `mode == .realtime`): the HTTP
/// response body that the bus delivers into. Confined to its event loop: the only entries from other
/// threads are `requestClose` and the realtime table's `replaceSubscriptions`, which hop onto it (hence
/// `@unchecked Sendable`).
final class SSEStreamHandler: HTTPResponseStream, BusSubscriber, KeepAliveParticipant, ConnectionController,
    @unchecked Sendable
{
    enum Mode {
        /// `GET /sse`: fixed channels, raw payloads as `data:`, ids and recovery.
        case stream(SSEStreamRequest)
        /// `GET /api/realtime`: subscriptions replaced by `POST /api/realtime`, JSON envelopes, no ids.
        case realtime
    }

    let services: SSEServices
    let metricsSlot: ProtocolMetricsSlot
    let eventLoop: any EventLoop
    var deliveryMark: UInt64 = 0
    var keepAliveSlot = -1
    let mode: Mode
    /// `mode` is `.realtime`: read per delivery, so a plain flag rather than a match on the enum (whose
    /// payload holds arrays, which the match would retain and release).
    let isRealtime: Bool
    /// A realtime client's subscriptions that follow a record collection the PocketBase way: the bus
    /// subscription → its event name (the subscription as the client wrote it) and `fields`.
    var realtimeEvents: [ObjectIdentifier: SSERealtimeEvent] = [:]
    /// Registry entry, keep-alive, identity and the one clean-up (FrontendKit).
    var lifecycle: ConnectionLifecycle
    var writer: HTTPStreamWriter?
    var machine: SSEStreamStateMachine?
    var subscriptions: [BusSubscription] = []
    let filter: SSEMessageFilter
    /// The stream's position: one entry per positioned channel (`SSEStreamRequest.positionedChannels`).
    var positions: [LogPosition?] = []
    /// Topic name → index in `positions`, unless `sharesIDs`; a channel following a stream is indexed by
    /// its filter's pattern (its messages' positions are in the stream, not in their topics' logs).
    var positionIndex: [String: Int] = [:]
    /// The filters with wildcards that follow a stream (`SSEStreamRequest.streamFollowing`).
    var streamFollowing: Set<String> = []
    /// One concrete channel and nothing else: each message's own position is the whole id, so the
    /// event (id included) is encoded once and shared by every such stream.
    var sharesIDs = false
    /// With overlapping subscriptions a message is matched once per subscription; it is sent once.
    private var lastDelivered: BusMessage?
    /// Something was delivered since the last keep-alive tick (read by the realtime inactivity check).
    private var deliveredSinceTick = false
    /// Publisher flow control: this stream as a subscriber that fell behind (`CongestedSubscriber`).
    private var behind = CongestedSubscriber()
    /// `identity`: who opened the stream; when its token expires the stream ends, and the client must
    /// come back with a new token.
    init(
        services: SSEServices, mode: Mode, info: ConnectionInfo, identity: ClientIdentity, filter: SSEMessageFilter,
        eventLoop: any EventLoop
    ) {
        self.services = services
        self.metricsSlot = services.metricsSlot
        self.mode = mode
        if case .realtime = mode { self.isRealtime = true } else { self.isRealtime = false }
        self.lifecycle = ConnectionLifecycle(
            protocolName: info.protocolName, id: info.id, connections: services.connections,
            counters: services.counters, keepAlive: services.keepAlive)  // the id came with the request
        lifecycle.info = info
        lifecycle.identity = identity
        self.filter = filter
        self.eventLoop = eventLoop
    }

    var bus: Bus { services.shared.bus }
    var info: ConnectionInfo { _read { yield lifecycle.info } }
    var configuration: SSEConfiguration { services.configuration }

    // MARK: - HTTPResponseStream

    func streamStarted(_ writer: HTTPStreamWriter) {
        self.writer = writer
        let now = eventLoop.now
        var inactivity: TimeAmount?
        if case .realtime = mode { inactivity = .seconds(Int64(configuration.realtimeInactivitySeconds)) }
        machine = SSEStreamStateMachine(
            now: now, keepAliveInterval: .seconds(Int64(configuration.keepAliveSeconds)), inactivityTimeout: inactivity)
        guard lifecycle.admit(controller: self) == nil else {
            // Checked before answering; two streams racing for the last slot can both pass that check.
            return serverClose(.administrative)
        }
        lifecycle.joinKeepAlive(self, on: eventLoop)
        switch mode {
        case .stream(let request): open(request)
        case .realtime: openRealtime()
        }
        writer.flush()
    }

    func streamEnded() {
        guard let action = machine?.connectionEnded() else { return }
        run(action)
    }

    /// Unsubscribes everything and leaves the registry (and the realtime client table).
    private func cleanUp() {
        lifecycle.end(self, bus: bus, subscriptions: subscriptions)
        behind.caughtUp(info.id, registry: services.connections)
        writer = nil
        subscriptions.removeAll()
        if isRealtime {
            let id = info.id
            services.realtimeClients.withLockedValue { clients in
                if clients[id] === self { clients[id] = nil }
            }
        }
    }

    // MARK: - Deliveries (BusSubscriber)

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard let writer, machine?.isStreaming == true else { return .skipped }
        // A record subscription the PocketBase way gets its own event even when another subscription of the
        // client matched the same change (PocketBase sends one per subscription: `tasks/*` and `tasks/<id>`).
        if isRealtime, let recordEvent = realtimeEvents[ObjectIdentifier(subscription)] {
            if !writer.isWritable, let refused = admitWhileBehind(message) { return refused }
            deliveredSinceTick = true
            let event = HTTPStreamWriter.frame(chunked: writer.isChunked, capacity: message.payload.readableBytes + 64)
            {
                SSEStreamHandler.encodeRecordEvent(&$0, recordEvent, message)
            }
            writer.write(event)
            return .delivered(bytes: event.readableBytes)
        }
        if subscriptions.count > 1 {
            if lastDelivered === message { return .skipped }
            lastDelivered = message
        }
        guard filter.admitsEverything || filter.admits(message) else { return .skipped }
        if !writer.isWritable, let refused = admitWhileBehind(message) { return refused }
        deliveredSinceTick = true
        let chunked = writer.isChunked
        var bytes = 0
        if isRealtime {
            let event = context.encoded(form: SSEWireForm.realtime(chunked: chunked)) { message in
                HTTPStreamWriter.frame(chunked: chunked, capacity: message.payload.readableBytes + 160) {
                    SSEStreamHandler.encodeRealtime(&$0, message)
                }
            }
            writer.write(event)
            return .delivered(bytes: event.readableBytes)
        }
        let position = message.position
        if sharesIDs, position != nil {
            let event = context.encoded(form: SSEWireForm.event(chunked: chunked, ownID: true)) { message in
                HTTPStreamWriter.frame(chunked: chunked, capacity: message.payload.readableBytes + 96) {
                    SSEEventEncoder.message(&$0, message, id: message.position.map(SSECursor.entryText))
                }
            }
            positions[0] = position
            writer.write(event)
            return .delivered(bytes: event.readableBytes)
        }
        // The channel a position belongs to is looked up only for a positioned message (a filter's
        // `hasWildcards` scans its text: not once per delivery).
        if let position, !positionIndex.isEmpty,
            let index = positionIndex[
                subscription.filter.hasWildcards && streamFollowing.contains(subscription.filter.text)
                    ? subscription.filter.pattern : message.topic.name]
        {
            // Several positioned channels: the id is this stream's whole position, so it is written
            // on its own in front of the shared event.
            positions[index] = position
            let id = HTTPStreamWriter.frame(chunked: chunked, capacity: 24 * positions.count) {
                SSEEventEncoder.id(&$0, SSECursor(positions).text)
            }
            writer.write(id)
            bytes = id.readableBytes
        }
        let event = context.encoded(form: SSEWireForm.event(chunked: chunked, ownID: false)) { message in
            HTTPStreamWriter.frame(chunked: chunked, capacity: message.payload.readableBytes + 64) {
                SSEEventEncoder.message(&$0, message, id: nil)
            }
        }
        writer.write(event)
        return .delivered(bytes: bytes + event.readableBytes)
    }

    /// A reconnecting stream resumes from `Last-Event-ID`.
    var resumesFromPositions: Bool { true }

    func flushDeliveries() {
        writer?.flush()
        lastDelivered = nil
    }

    /// A delivery while the outbound buffer is over its high water mark: nil when it is written all the
    /// same, the publishers feeding the stream paused until it drains (`CongestedSubscriber`); past the
    /// deadline or the slack, the slow-consumer policy's outcome.
    private func admitWhileBehind(_ message: BusMessage) -> DeliveryOutcome? {
        slowConsumer(
            behind.admitUnwritable(
                message, to: info.id, policy: slowConsumerPolicy, now: bus.clock(),
                bounds: configuration.congestionBounds, registry: services.connections))
    }

    /// A stream with a position ends instead of dropping: its client reconnects with `Last-Event-ID` and
    /// recovers the rest from history, so nothing inside the window is lost. Without a position (no
    /// history, filters only) the configured policy applies.
    private var slowConsumerPolicy: SlowConsumerPolicy {
        positions.contains(where: { $0 != nil }) ? .disconnect : configuration.slowConsumerPolicy
    }

    private func slowConsumer(_ verdict: CongestedSubscriber.Verdict) -> DeliveryOutcome? {
        verdict.outcome {
            services.counters.countSlowConsumer()
            serverClose(.slowConsumer)
        }
    }

    func streamWritabilityChanged(_ writable: Bool) {
        if writable { behind.writable(info.id, registry: services.connections) }
    }

    // MARK: - Keep-alive, inactivity and closing

    func keepAliveTick(now: NIODeadline) {
        writer?.releaseIdleStorage()
        if lifecycle.credentialsExpired(now: bus.clock()) {
            if let writer {
                writer.write(
                    HTTPStreamWriter.frame(chunked: writer.isChunked) { SSEEventEncoder.comment(&$0, "token expired") })
            }
            return serverClose(.administrative)
        }
        if behind.isBehind,
            let verdict = behind.tick(
                buffered: writer?.bufferedBytes, subscriberID: info.id, policy: slowConsumerPolicy, now: bus.clock(),
                bounds: configuration.congestionBounds, registry: services.connections)
        {
            _ = slowConsumer(verdict)
        }
        guard var machine else { return }
        if deliveredSinceTick {
            deliveredSinceTick = false
            machine.activity(now: now, wroteBytes: true)
        }
        let action = machine.tick(now: now)
        self.machine = machine
        run(action)
    }

    /// Carries out what the stream's state machine decided.
    private func run(_ action: SSEStreamStateMachine.Action) {
        switch action {
        case .none:
            break
        case .sendKeepAlive:
            guard let writer else { return }
            writer.write(
                HTTPStreamWriter.frame(chunked: writer.isChunked) { SSEEventEncoder.comment(&$0, "keep-alive") })
            writer.flush()
        case .finish:
            writer?.finish()
        case .cleanUp:
            cleanUp()
        }
    }

    func requestClose(_ reason: CloseReason) {
        eventLoop.execute { self.serverClose(reason) }
    }

    /// Ends the body; the client's `EventSource` reconnects by itself (with `Last-Event-ID` on `/sse`).
    func serverClose(_ reason: CloseReason) {
        guard let action = machine?.closeRequested() else { return }
        run(action)
    }

    /// Marks client activity (a realtime subscription change).
    func touch() {
        machine?.activity(now: eventLoop.now, wroteBytes: false)
    }
}

/// The keys of this protocol's wire forms in `DeliveryContext`.
enum SSEWireForm {
    static func event(chunked: Bool, ownID: Bool) -> WireFormKey {
        WireFormKey(SSEWireForm.self, variant: (chunked ? 1 : 0) | (ownID ? 2 : 0))
    }
    static func realtime(chunked: Bool) -> WireFormKey { WireFormKey(SSEWireForm.self, variant: 4 | (chunked ? 1 : 0)) }
}
