import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import SignalRWire

/// Where a connection's messages to its client go (TransportProtocols.md).
enum SignalROutbound {
    /// Frames on the channel the connection is the handler of.
    case webSocket
    /// Events on the GET stream, once it has started (text only: no MessagePack).
    case serverSentEvents(HTTPStreamWriter?)
    /// Bytes kept for the client's next poll.
    case longPolling(SignalRLongPoll)

    /// Whether the transport carries the binary transfer format (Server-Sent Events does not).
    var carriesBinary: Bool {
        if case .serverSentEvents = self { return false }
        return true
    }
}

/// What a long poll is answered with (TransportProtocols.md §Long Polling).
enum SignalRPollAnswer: Sendable {
    /// 200 with the messages that were waiting, one after the other in the connection's framing.
    case messages(ByteBuffer)
    /// 200 with no body: the first poll (the connection is up), or a poll held to its timeout.
    case empty
    /// 204: the connection has ended, or a newer poll took this one's place.
    case ended
    /// 409: the connection is on Server-Sent Events, not polling.
    case notPolling
}

/// A long-polling connection's outbound side: what waits for the next poll, and the poll that waits
/// for it. Confined to the connection's loop.
final class SignalRLongPoll: @unchecked Sendable {
    var pending = ByteBuffer()
    var waiting: EventLoopPromise<SignalRPollAnswer>?
    var waitingSince: NIODeadline
    /// When the last poll was answered: a client that does not poll again within the disconnect
    /// timeout is gone.
    var lastAnswered: NIODeadline
    var hasPolled = false
    /// The connection has ended: what is pending goes out with the next poll, then polls hear 204.
    var terminated = false

    init(now: NIODeadline) {
        waitingSince = now
        lastAnswered = now
    }

    func takePending() -> ByteBuffer {
        let body = pending
        pending = ByteBuffer()
        return body
    }
}

/// Server-Sent Events and long polling (TransportProtocols.md): the connection is made by the first GET
/// with a negotiated token and lives on that request's loop; POSTs carry the client's messages, the
/// event stream or the polls carry the server's, a DELETE ends a long-polling connection.
extension SignalRConnectionHandler {
    /// Admits a connection made by its first GET: the registry's limits, the keep-alive sweep, and the
    /// token table its later requests look it up in. False when the server is full.
    func startOverHTTP(remoteAddress: SocketAddress?) -> Bool {
        let now = eventLoop.now
        startedAt = now
        lastReceived = now
        lastSent = now
        guard lifecycle.admit(remoteAddress: remoteAddress, now: bus.clock(), controller: self) == nil else {
            phase = .closed
            return false
        }
        lifecycle.joinKeepAlive(self, on: eventLoop)
        if let token { services.register(self, token: token) }
        return true
    }

    /// A POST's body: the client's messages, handled as a WebSocket frame's would be. False when the
    /// connection has ended (the POST then answers 404, as ASP.NET Core's does).
    func received(_ body: ByteBuffer) -> Bool {
        if case .closed = phase { return false }
        receivedSinceTick = true
        var body = body
        inbound.writeBuffer(&body)
        processInbound()
        flushIfNeeded()
        return true
    }

    /// A long poll: answered at once when messages wait (or on the first poll, which only says the
    /// connection is up: ASP.NET Core answers it empty), else held until messages come, the poll timeout, or a newer poll (204 for
    /// this one). `closeFuture` is the request's channel: a client that leaves frees its poll.
    func poll(closeFuture: EventLoopFuture<Void>?) -> EventLoopFuture<SignalRPollAnswer> {
        guard case .longPolling(let poll) = outbound else { return eventLoop.makeSucceededFuture(.notPolling) }
        let now = eventLoop.now
        if let previous = poll.waiting {
            poll.waiting = nil
            previous.succeed(.ended)
        }
        if poll.pending.readableBytes > 0 {
            poll.hasPolled = true
            poll.lastAnswered = now
            return eventLoop.makeSucceededFuture(.messages(poll.takePending()))
        }
        if !poll.hasPolled {
            poll.hasPolled = true
            poll.lastAnswered = now
            return eventLoop.makeSucceededFuture(.empty)
        }
        if poll.terminated {
            if let token { services.unregister(self, token: token) }
            return eventLoop.makeSucceededFuture(.ended)
        }
        let promise = eventLoop.makePromise(of: SignalRPollAnswer.self)
        poll.waiting = promise
        poll.waitingSince = now
        if let closeFuture {
            let loop = eventLoop
            closeFuture.whenComplete { _ in
                loop.execute {
                    guard let waiting = poll.waiting, waiting.futureResult === promise.futureResult else { return }
                    poll.waiting = nil
                    poll.lastAnswered = loop.now
                    waiting.succeed(.empty)
                }
            }
        }
        return promise.futureResult
    }

    /// Hands what is pending to the waiting poll; a terminated connection's last poll hears 204.
    func answerPoll(_ poll: SignalRLongPoll) {
        guard let waiting = poll.waiting else { return }
        if poll.pending.readableBytes > 0 {
            poll.waiting = nil
            poll.lastAnswered = eventLoop.now
            waiting.succeed(.messages(poll.takePending()))
        } else if poll.terminated {
            poll.waiting = nil
            waiting.succeed(.ended)
            if let token { services.unregister(self, token: token) }
        }
    }

    /// The keep-alive sweep for long polling: a poll held to `long_poll_timeout_ms` is answered empty,
    /// and a client that has not polled for `disconnect_timeout_ms` is gone.
    func longPollTick(_ poll: SignalRLongPoll, now: NIODeadline) {
        if let waiting = poll.waiting {
            guard now - poll.waitingSince >= .milliseconds(Int64(configuration.longPollTimeoutMilliseconds)) else {
                return
            }
            poll.waiting = nil
            poll.lastAnswered = now
            waiting.succeed(.empty)
        } else if now - poll.lastAnswered > .milliseconds(Int64(configuration.disconnectTimeoutMilliseconds)) {
            poll.pending = ByteBuffer()
            connectionEnded()
            if let token { services.unregister(self, token: token) }
        }
    }

    /// A DELETE: a long-polling client ends its connection (its waiting poll hears 204). False on Server-
    /// Sent Events, which end when the client closes the stream.
    func deleteRequested() -> Bool {
        guard case .longPolling = outbound else { return false }
        connectionEnded()
        return true
    }

    /// A delivery on Server-Sent Events (one event per message, encoded once for every stream of the
    /// same framing) or long polling (the message appended to what waits for the next poll).
    func deliverOverHTTP(_ message: BusMessage, json: Bool, context: inout DeliveryContext) -> DeliveryOutcome {
        switch outbound {
        case .webSocket:
            return .skipped
        case .serverSentEvents(let writer):
            guard let writer else { return .skipped }
            guard writer.isWritable else { return slowConsumer() }
            let chunked = writer.isChunked
            let event = context.encoded(form: WireFormKey(SignalRConnectionHandler.self, variant: chunked ? 4 : 5)) {
                message in
                HTTPStreamWriter.frame(chunked: chunked, capacity: message.payload.readableBytes + 160) {
                    SignalRConnectionHandler.writeEvent(
                        &$0, SignalRConnectionHandler.deliveryMessage(message, json: true))
                }
            }
            writer.write(event)
            sentSinceTick = true
            needsFlush = true
            return .delivered(bytes: event.readableBytes)
        case .longPolling(let poll):
            guard poll.pending.readableBytes < configuration.maxPendingBytes else { return slowConsumer() }
            let bytes = context.encoded(form: WireFormKey(SignalRConnectionHandler.self, variant: json ? 2 : 3)) {
                message in SignalRConnectionHandler.deliveryMessage(message, json: json)
            }
            poll.pending.writeImmutableBuffer(bytes)
            sentSinceTick = true
            needsFlush = true
            return .delivered(bytes: bytes.readableBytes)
        }
    }

    /// A hub message on Server-Sent Events or long polling (`message` in the connection's framing).
    func writeOverHTTP(_ message: ByteBuffer) {
        switch outbound {
        case .webSocket:
            return
        case .serverSentEvents(let writer):
            guard let writer else { return }
            writer.write(
                HTTPStreamWriter.frame(chunked: writer.isChunked, capacity: message.readableBytes + 16) {
                    SignalRConnectionHandler.writeEvent(&$0, message)
                })
        case .longPolling(let poll):
            poll.pending.writeImmutableBuffer(message)
        }
        sentSinceTick = true
        needsFlush = true
    }

    /// The connection has ended (`connectionEnded`): the event stream is finished and forgotten; a
    /// long-polling client gets what is still pending (a Close, say) with its next poll, then 204 —
    /// its token is forgotten then, or after the disconnect timeout if it never polls again.
    func httpTransportEnded() {
        switch outbound {
        case .webSocket:
            return
        case .serverSentEvents(let writer):
            outbound = .serverSentEvents(nil)
            writer?.flush()
            writer?.finish()
            if let token { services.unregister(self, token: token) }
        case .longPolling(let poll):
            poll.terminated = true
            answerPoll(poll)
            guard let token else { return }
            let services = services
            eventLoop.scheduleTask(in: .milliseconds(Int64(configuration.disconnectTimeoutMilliseconds))) {
                [self] in services.unregister(self, token: token)
            }
        }
    }

    /// One Server-Sent Event carrying `message`, as ASP.NET Core writes it: `data: ` before each of its
    /// lines, CRLF after each, and a blank line to end the event. A message has line breaks only when a
    /// payload published elsewhere was formatted JSON; the client joins its lines with `\n`.
    static func writeEvent(_ buffer: inout ByteBuffer, _ message: ByteBuffer) {
        buffer.writeStaticString("data: ")
        let bytes = message.readableBytesView
        var start = bytes.startIndex
        var index = start
        while index < bytes.endIndex {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") else {
                index += 1
                continue
            }
            buffer.writeBytes(bytes[start..<index])
            buffer.writeStaticString("\r\ndata: ")
            index += 1
            if byte == UInt8(ascii: "\r"), index < bytes.endIndex, bytes[index] == UInt8(ascii: "\n") { index += 1 }
            start = index
        }
        buffer.writeBytes(bytes[start..<bytes.endIndex])
        buffer.writeStaticString("\r\n\r\n")
    }
}

extension SignalRConnectionHandler: HTTPResponseStream {
    /// The event stream is open: a comment first, as ASP.NET Core writes one (some browsers report the
    /// stream open only when its first bytes arrive), then messages as events.
    func streamStarted(_ writer: HTTPStreamWriter) {
        guard case .serverSentEvents = outbound else { return writer.finish() }
        if case .closed = phase { return writer.finish() }
        outbound = .serverSentEvents(writer)
        writer.write(HTTPStreamWriter.frame(chunked: writer.isChunked) { $0.writeStaticString(":\r\n") })
        writer.flush()
    }

    func streamEnded() {
        connectionEnded()
    }
}
