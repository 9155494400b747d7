import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import SignalRWire

/// The test hubs signalrcore's integration tests run against (its ASP.NET Core test server's `ChatHub` at
/// `/chatHub` and `AuthChatHub` at `/authHub`), served with `signalr.conformance_mode` only — to run that
/// suite against Switchboard (docs/protocols/signalr.md §Conformance), never in production. Their
/// broadcasts go over the bus like everything else: `Clients.All.SendAsync(method, args…)` is a publish
/// on the hub's own channel whose payload is the argument list, delivered as an invocation of `method`.
enum SignalRConformance {
    static let chatHub = "chatHub"
    static let authHub = "authHub"
    static let hubs = [chatHub, authHub]

    /// The content type of a message whose payload is an invocation's argument list (a JSON array) and
    /// whose event type is the client method to invoke.
    static let argumentsContentType = "application/vnd.switchboard.signalr-arguments+json"

    /// The channel every connection of a test hub joins: its `Clients.All`.
    static func channel(hub: String) -> String { "signalr-conformance/" + hub }
}

extension SignalRConnectionHandler {

    /// Joins the hub's `Clients.All` channel after the handshake.
    func joinConformanceHub() {
        let channel = SignalRConformance.channel(hub: hub)
        guard subscriptions[channel] == nil, let filter = try? TopicFilter(channel) else { return }
        let result = bus.subscribe(filter, subscriber: self, subscriberID: info.id, presence: nil)
        subscriptions[channel] = result.subscription
    }

    /// The test server's methods; false when `target` is none of them (the hub's own methods then apply).
    func invokeConformance(_ target: String, _ arguments: [SignalRPayload], id: String?) -> Bool {
        switch (hub, target) {
        case (_, "SendMessage"):
            // ChatHub's takes (user, message), AuthChatHub's (message).
            let expected = hub == SignalRConformance.chatHub ? 2 : 1
            guard arguments.count == expected else {
                complete(id, error: argumentCountError(target, arguments.count, expected: expected))
                return true
            }
            broadcast("ReceiveMessage", arguments)
            complete(id)
        case (SignalRConformance.chatHub, "ThrowException"):
            broadcast("ThrowExceptionCall", arguments)
            // ASP.NET Core's text for an exception without detailed errors.
            complete(id, error: "An unexpected error occurred invoking 'ThrowException' on the server.")
        case (SignalRConformance.chatHub, "DisconnectMe"):
            var text = ByteBuffer()
            text.writeJSONString("\(info.name ?? info.id) Disconnected")
            broadcast("ReceiveMessage", [.json(text)])
            complete(id)
            flushIfNeeded()
            abortTransport()
        default:
            return false
        }
        return true
    }

    /// `Counter(count, delay)`: the numbers 0..<count, one every `delay` ms, then the Completion; a
    /// `CancelInvocation` stops it.
    func streamConformance(_ target: String, _ arguments: [SignalRPayload], id: String) -> Bool {
        guard hub == SignalRConformance.chatHub, target == "Counter" else { return false }
        guard arguments.count == 2, let count = Self.integer(arguments[0]), let delay = Self.integer(arguments[1])
        else {
            complete(id, error: argumentCountError(target, arguments.count, expected: 2))
            return true
        }
        pendingInvocations.insert(id)
        counterStep(0, count: min(count, 10_000), delay: max(0, min(delay, 60_000)), id: id)
        return true
    }

    private func counterStep(_ index: Int, count: Int, delay: Int, id: String) {
        guard pendingInvocations.contains(id), case .open = phase else { return }
        guard index < count else {
            pendingInvocations.remove(id)
            complete(id)
            return flushIfNeeded()
        }
        var item = ByteBuffer()
        item.writeDecimal(index)
        send(.streamItem(SignalRStreamItem(invocationID: id, item: .json(item))))
        flushIfNeeded()
        eventLoop.scheduleTask(in: .milliseconds(Int64(delay))) {
            self.counterStep(index + 1, count: count, delay: delay, id: id)
        }
    }

    /// `Clients.All.SendAsync(method, arguments…)` on this hub.
    private func broadcast(_ method: String, _ arguments: [SignalRPayload]) {
        guard let topic = try? Topic(SignalRConformance.channel(hub: hub)) else { return }
        var payload = ByteBuffer(string: "[")
        for (index, argument) in arguments.enumerated() {
            if index > 0 { payload.writeStaticString(",") }
            argument.writeJSON(into: &payload)
        }
        payload.writeStaticString("]")
        bus.shard(for: eventLoop).publish(
            BusMessage(
                topic: topic, payload: payload,
                headers: MessageHeaders(contentType: SignalRConformance.argumentsContentType, eventType: method),
                publisherID: info.id, timestamp: bus.clock()))
    }

    /// `Context.Abort()`: as ASP.NET Core ends an aborted hub connection — a Close message (no error),
    /// then the transport closes. (A client that reconnects, reconnects: signalrcore's long-polling and
    /// event-stream clients notice a closed connection only by that message.)
    private func abortTransport() {
        guard case .open = phase else { return }
        send(.close(SignalRClose()))
        flushIfNeeded()
        phase = .closed
        switch outbound {
        case .webSocket:
            if let context {
                context.close(promise: nil)
            } else if let remoteChannel {
                remoteChannel.close(promise: nil)
            }
        case .serverSentEvents, .longPolling:
            connectionEnded()
        }
    }
}
