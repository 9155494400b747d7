import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOWebSocket
import SocketIOWire

/// Deliveries: each bus message becomes the event `[<event type or "message">, <message JSON>]` in the
/// socket's namespace (with the recovery offset as the last argument when recovery is on), encoded once
/// per message per namespace and transport form, the bytes shared by every session — except for a socket
/// whose offset is a vector (`SocketIOOffset.Vector`: two or more rooms with history, with an engine),
/// whose events are encoded for it alone. The socket is the
/// subscriber: over WebSocket a delivery reads the socket, its handler and the channel, as a native
/// WebSocket's reads its handler and the channel; polling goes through the session's outbox.
extension SocketIOSocket: BusSubscriber {
    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        // What a socket emitted to its rooms is not sent back to it (`socket.to(room).emit`).
        if message.publisherID == socketID { return .skipped }
        // Overlapping rooms (`chat/#` and `chat/a`) get a message once.
        if roomCount > 1 {
            if lastDelivered === message { return .skipped }
            lastDelivered = message
        }
        guard let handler = webSocket else {
            return session.deliverPolled(message, to: self, for: subscription, context: &context)
        }
        if !handler.isWritable, let refused = session.admitWhileBehind(message) { return refused }
        if let reply = message.headers.replyTo, message.isPublication {
            // An RPC request: sent with an ack id of the session's, whose answer is the reply.
            return .delivered(bytes: session.sendRequest(message, socket: self, replyTo: reply))
        }
        let withOffset = canRecover && message.position != nil
        let namespace = namespace
        if withOffset, usesVectorOffsets, let position = message.position {
            // Encoded for this socket alone: its offset places all its rooms.
            let slot = subscription.localIndex & 0xFFFF
            let bytes = SocketIOSession.encodedEvent(
                message, namespace: namespace, withOffset: true, webSocket: true,
                offsetText: vectorOffset(slot: slot, offset: position.offset, channel: message.topic.name))
            handler.sendFrame(bytes)
            recordDelivery(slot: slot, position: position)
            return .delivered(bytes: bytes.readableBytes)
        }
        let bytes = context.encoded(
            form: WireFormKey(SocketIOSession.self, variant: namespaceID << 2 | 2 | (withOffset ? 1 : 0))
        ) { message in
            SocketIOSession.encodedEvent(message, namespace: namespace, withOffset: withOffset, webSocket: true)
        }
        handler.sendFrame(bytes)
        if withOffset, let position = message.position {
            recordDelivery(slot: subscription.localIndex & 0xFFFF, position: position)
        }
        return .delivered(bytes: bytes.readableBytes)
    }

    /// Socket.IO's connection-state recovery resumes from the rooms' positions.
    var resumesFromPositions: Bool { true }

    func flushDeliveries() {
        lastDelivered = nil
        if let webSocket { webSocket.flush() } else { session.flush() }
    }
}

extension SocketIOSession {
    /// A delivery while the session polls (or upgrades, or just closed): the event joins the outbox.
    func deliverPolled(
        _ message: BusMessage, to socket: SocketIOSocket, for subscription: BusSubscription,
        context: inout DeliveryContext
    ) -> DeliveryOutcome {
        if isClosed { return .skipped }
        if isBackedUp { return slowConsumer() }
        if let reply = message.headers.replyTo, message.isPublication {
            return .delivered(bytes: sendRequest(message, socket: socket, replyTo: reply))
        }
        let withOffset = socket.canRecover && message.position != nil
        if withOffset, socket.usesVectorOffsets, let position = message.position {
            let slot = subscription.localIndex & 0xFFFF
            let bytes = SocketIOSession.encodedEvent(
                message, namespace: socket.namespace, withOffset: true, webSocket: false,
                offsetText: socket.vectorOffset(slot: slot, offset: position.offset, channel: message.topic.name))
            guard sendEncoded(bytes, webSocket: false) else { return .skipped }
            socket.recordDelivery(slot: slot, position: position)
            return .delivered(bytes: bytes.readableBytes)
        }
        let bytes = context.encoded(
            form: WireFormKey(SocketIOSession.self, variant: socket.namespaceID << 2 | (withOffset ? 1 : 0))
        ) { message in
            SocketIOSession.encodedEvent(
                message, namespace: socket.namespace, withOffset: withOffset, webSocket: false)
        }
        // Not sent (the socket ended on a WebSocket session within this batch): not counted as delivered.
        guard sendEncoded(bytes, webSocket: false) else { return .skipped }
        if withOffset, let position = message.position {
            socket.recordDelivery(slot: subscription.localIndex & 0xFFFF, position: position)
        }
        return .delivered(bytes: bytes.readableBytes)
    }

    /// A missed message replayed on recovery (not shared: it goes to this one socket).
    func deliverMissed(_ message: BusMessage, subscription: BusSubscription) {
        let slot = subscription.localIndex >> 16
        guard let socket = sockets[slot] else { return }
        let withOffset = socket.canRecover && message.position != nil
        let webSocket = isWebSocket
        var offsetText: String?
        if withOffset, socket.usesVectorOffsets, let position = message.position {
            offsetText = socket.vectorOffset(
                slot: subscription.localIndex & 0xFFFF, offset: position.offset, channel: message.topic.name)
        }
        sendEncoded(
            SocketIOSession.encodedEvent(
                message, namespace: socket.namespace, withOffset: withOffset, webSocket: webSocket,
                offsetText: offsetText),
            webSocket: webSocket)
        if withOffset, let position = message.position {
            socket.recordDelivery(slot: subscription.localIndex & 0xFFFF, position: position)
        }
    }

    /// An RPC request to this socket: the event carries an ack id, and the client's ack is the reply.
    func sendRequest(_ message: BusMessage, socket: SocketIOSocket, replyTo: String) -> Int {
        nextReplyID &+= 1
        let id = nextReplyID
        if pendingReplies.count >= SocketIOSession.maxPendingReplies, let oldest = pendingReplies.keys.min() {
            pendingReplies[oldest] = nil
        }
        pendingReplies[id] = (replyTo, socket.socketID)
        var text = ByteBuffer(string: "4")
        SocketIOSession.writeEvent(&text, message, namespace: socket.namespace, withOffset: false, ackID: id)
        let webSocket = isWebSocket
        let bytes = webSocket ? WebSocketFrameWriter.frame(.text, payload: text) : text
        sendEncoded(bytes, webSocket: webSocket)
        return bytes.readableBytes
    }

    /// Requests a session may leave unanswered at once; the oldest is forgotten past it.
    static let maxPendingReplies = 256

    /// A client's ACK: the reply to the RPC request it answers (its one argument, or all of them).
    func replyReceived(_ packet: SocketIOPacket, socket: SocketIOSocket) {
        guard let id = packet.ackID, let pending = pendingReplies.removeValue(forKey: id),
            pending.socketID == socket.socketID, let data = packet.data,
            let topic = try? Topic(pending.topic, limits: bus.configuration.topicLimits)
        else { return }
        var payload = data
        if case .array(let values)? = packet.json, values.count == 1 {
            payload = ByteBuffer()
            payload.writeJSONValue(values[0])
        }
        bus.shard(for: eventLoop).publish(
            BusMessage(
                topic: topic, payload: payload, headers: MessageHeaders(contentType: "application/json"),
                publisherID: info.id, timestamp: bus.clock()))
    }

    func slowConsumer() -> DeliveryOutcome {
        if configuration.slowConsumerPolicy == .disconnect {
            services.counters.countSlowConsumer()
            close(.server(.slowConsumer))
        }
        return .dropped
    }

    /// The Engine.IO form of a message's event: WebSocket frames (a text frame, then a binary frame for a
    /// binary payload), or the polling text (`4…`, then `\u{1e}b<base64>` for the attachment).
    static func encodedEvent(
        _ message: BusMessage, namespace: String, withOffset: Bool, webSocket: Bool, offsetText: String? = nil
    ) -> ByteBuffer {
        let binary = message.isPublication && message.payloadForm == .binary
        guard webSocket else {
            var text = ByteBuffer()
            text.reserveCapacity(message.payload.readableBytes * (binary ? 2 : 1) + 128)
            text.writeStaticString("4")
            writeEvent(&text, message, namespace: namespace, withOffset: withOffset, ackID: nil, offsetText: offsetText)
            if binary {
                text.writeInteger(EngineIOPayload.separator)
                EngineIOPacket.binary(message.payload).writeText(into: &text)
            }
            return text
        }
        var frames = WebSocketFrameWriter.textFrame(capacity: message.payload.readableBytes + 128) {
            $0.writeStaticString("4")
            writeEvent(&$0, message, namespace: namespace, withOffset: withOffset, ackID: nil, offsetText: offsetText)
        }
        if binary { frames.writeImmutableBuffer(WebSocketFrameWriter.frame(.binary, payload: message.payload)) }
        return frames
    }

    /// `2<ns,>[ack]["event",{…message…}(,"offset")]` — the Socket.IO EVENT text; `51-…` with the payload
    /// as attachment 0 when it is binary.
    static func writeEvent(
        _ buffer: inout ByteBuffer, _ message: BusMessage, namespace: String, withOffset: Bool, ackID: UInt64?,
        offsetText: String? = nil
    ) {
        let binary = message.isPublication && message.payloadForm == .binary
        buffer.writeStaticString(binary ? "51-" : "2")
        if namespace != "/" {
            buffer.writeString(namespace)
            buffer.writeStaticString(",")
        }
        if let ackID { buffer.writeDecimal(ackID) }
        buffer.writeStaticString("[")
        switch message.kind {
        case .publish: buffer.writeJSONString(message.headers.eventType ?? "message")
        case .join: buffer.writeStaticString("\"join\"")
        case .leave: buffer.writeStaticString("\"leave\"")
        }
        buffer.writeStaticString(",")
        if binary {
            // BusJSON's shape, with the payload as a placeholder for the attachment.
            buffer.writeStaticString("{\"type\":\"message\",\"channel\":")
            buffer.writeJSONString(message.topic.name)
            buffer.writeStaticString(",\"data\":{\"_placeholder\":true,\"num\":0}")
            if let event = message.headers.eventType {
                buffer.writeStaticString(",\"event\":")
                buffer.writeJSONString(event)
            }
            if let position = message.position { BusJSON.position(&buffer, position) }
            buffer.writeStaticString("}")
        } else {
            BusJSON.message(&buffer, message)
        }
        if let offsetText {
            buffer.writeStaticString(",")
            buffer.writeJSONString(offsetText)
        } else if withOffset, let position = message.position {
            buffer.writeStaticString(",")
            SocketIOOffset.write(&buffer, channel: message.topic.name, offset: position.offset)
        }
        buffer.writeStaticString("]")
    }
}
