import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOHTTP1
import SSEWire

/// One long-poll request (`GET /poll`). It subscribes to the channels with recovery from the cursor:
/// what the log holds after the cursor is answered at once; otherwise the request is held until a
/// delivery batch brings admitted messages, the timeout passes (204), the server closes it (204) or
/// the client leaves. Subscribing with recovery registers before reading the log, so a message
/// published meanwhile is either in the read or delivered live — never lost, never twice. Confined to
/// its loop (`requestClose` hops onto it).
final class SSEPollWaiter: BusSubscriber, ConnectionController, @unchecked Sendable {
    let services: SSEServices
    let metricsSlot: ProtocolMetricsSlot
    let eventLoop: any EventLoop
    var deliveryMark: UInt64 = 0
    private let request: SSEPollRequest
    private let headers: HTTPHeaders
    private var info: ConnectionInfo
    private var machine = SSEPollStateMachine()
    private var subscriptions: [BusSubscription] = []
    private var positions: [LogPosition?]
    /// Topic name (a followed filter: its pattern) → cursor entry.
    private var indexByTopic: [String: Int] = [:]
    private var messages: [BusMessage] = []
    private var resets: [SSEReset] = []
    private var timeout: Scheduled<Void>?
    private var registered = false
    private let promise: EventLoopPromise<HTTPResponse>
    /// The client's read ACL and record viewer (`ClientIdentity.subscriptionOptions`).
    private let options: SubscriptionOptions

    /// `headers` go on the answer (CORS).
    init(
        services: SSEServices, request: SSEPollRequest, info: ConnectionInfo, options: SubscriptionOptions,
        headers: HTTPHeaders, eventLoop: any EventLoop
    ) {
        self.options = options
        self.services = services
        self.metricsSlot = services.metricsSlot
        self.eventLoop = eventLoop
        self.request = request
        self.info = info
        self.headers = headers
        self.positions = request.cursor?.entries ?? Array(repeating: nil, count: request.channels.count)
        self.promise = eventLoop.makePromise()
        for (index, filter) in request.channels.enumerated() { indexByTopic[filter.pattern] = index }
    }

    private var bus: Bus { services.bus }

    /// Subscribes, answers at once when history already has something, else holds. On the loop.
    func start(closeFuture: EventLoopFuture<Void>?) -> EventLoopFuture<HTTPResponse> {
        for (index, filter) in request.channels.enumerated() {
            let requested = request.cursor?.entries[index]
            // A filter follows its stream (`.last(0)` without a cursor); the follower delivers what the
            // stream holds after the cursor right after this, and that answers the poll.
            let follows = request.streamFollowing.contains(filter.text)
            let result = bus.subscribe(
                filter, subscriber: self, subscriberID: info.id, options: options, presence: nil,
                history: requested.map { .recover($0, fallback: 0) } ?? (follows ? .last(0) : nil))
            subscriptions.append(result.subscription)
            if let requested, result.recovered != true {
                resets.append(SSEReset(channel: filter.pattern, requested: requested, current: result.position))
            } else {
                messages += result.messages.filter(request.filter.admits)
            }
            positions[index] = result.position ?? positions[index]
        }
        if !messages.isEmpty || !resets.isEmpty {
            run(machine.messagesArrived())
        } else if request.timeoutSeconds == 0 {
            // A followed filter's records come from its follower's first read, queued on this loop by the
            // subscribe: answer after it.
            if request.streamFollowing.isEmpty {
                run(machine.timeoutFired())
            } else {
                eventLoop.execute { [self] in run(machine.timeoutFired()) }
            }
        } else {
            hold(closeFuture: closeFuture)
        }
        return promise.futureResult
    }

    private func hold(closeFuture: EventLoopFuture<Void>?) {
        registered = services.connections.register(info, controller: self)
        let subscriptionsText = request.channels.map(\.text)
        services.connections.update(info.id) { $0.subscriptions = subscriptionsText }
        timeout = eventLoop.scheduleTask(in: .seconds(Int64(request.timeoutSeconds))) { [self] in
            run(machine.timeoutFired())
        }
        closeFuture?.whenComplete { [self] _ in
            eventLoop.execute { self.run(self.machine.clientLeft()) }
        }
    }

    // MARK: - BusSubscriber

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard machine.isWaiting else { return .skipped }
        // Deliveries of a history topic arrive in offset order, once each: the cursor may move past
        // filtered-out messages too, so the next poll does not read them again.
        let key = subscription.filter.hasWildcards ? subscription.filter.pattern : message.topic.name
        if let position = message.position, let index = indexByTopic[key] {
            positions[index] = position
        }
        guard request.filter.admits(message) else { return .skipped }
        messages.append(message)
        return .delivered(bytes: message.payload.readableBytes)
    }

    /// The next poll resumes from its cursor.
    var resumesFromPositions: Bool { true }

    func flushDeliveries() {
        if !messages.isEmpty { run(machine.messagesArrived()) }
    }

    func requestClose(_ reason: CloseReason) {
        eventLoop.execute { self.run(self.machine.closeRequested()) }
    }

    // MARK: - Answering

    private func run(_ action: SSEPollStateMachine.Action) {
        switch action {
        case .none:
            return
        case .answerWithMessages:
            promise.succeed(answer())
        case .answerNoContent:
            let response = HTTPResponse(status: .noContent, headers: answerHeaders())
            promise.succeed(response)
        case .abandon:
            // Nobody reads it; completing keeps the promise from leaking.
            promise.succeed(HTTPResponse(status: .noContent))
        }
        timeout?.cancel()
        timeout = nil
        for subscription in subscriptions { bus.unsubscribe(subscription) }
        subscriptions.removeAll()
        if registered, services.connections.remove(info.id) { registered = false }
    }

    private func answerHeaders() -> HTTPHeaders {
        var headers = self.headers
        // RFC 9110 §8.8.3: an entity tag is a quoted string; the cursor is its opaque part.
        headers.add(name: "ETag", value: "\"" + SSECursor(positions).text + "\"")
        headers.add(name: "Cache-Control", value: "no-store")
        return headers
    }

    /// `{"messages":[…],"cursor":"…"}`, plus `"reset":[…]` when a cursor entry was gone.
    private func answer() -> HTTPResponse {
        var response = HTTPResponse.json { buffer in
            buffer.writeStaticString("{\"messages\":[")
            for (index, message) in messages.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                SSEMessageJSON.message(&buffer, message)
            }
            buffer.writeStaticString("],\"cursor\":")
            buffer.writeJSONString(SSECursor(positions).text)
            if !resets.isEmpty {
                buffer.writeStaticString(",\"reset\":[")
                for (index, reset) in resets.enumerated() {
                    if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                    SSEMessageJSON.reset(&buffer, reset)
                }
                buffer.writeInteger(UInt8(ascii: "]"))
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        response.headers.add(contentsOf: answerHeaders())
        return response
    }
}
