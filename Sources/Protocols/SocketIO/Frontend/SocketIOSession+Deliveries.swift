import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import SocketIOWire

/// Deliveries: each bus message becomes the event `[<event type or "message">, <message JSON>]` in the
/// socket's namespace (with the recovery offset as the last argument when recovery is on), encoded once
/// per message per namespace and transport form, the bytes shared by every session.
extension SocketIOSession {
    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        let slot = subscription.localIndex >> 16
        guard !isClosed, slot < sockets.count, let socket = sockets[slot] else { return .skipped }
        // What a socket emitted to its rooms is not sent back to it (`socket.to(room).emit`).
        if message.publisherID == socket.socketID { return .skipped }
        if isBackedUp { return slowConsumer() }
        let withOffset = socket.canRecover && message.position != nil
        let namespace = socket.namespace
        let webSocket = isWebSocket
        let variant = socket.namespaceID << 2 | (webSocket ? 2 : 0) | (withOffset ? 1 : 0)
        let bytes = context.encoded(form: WireFormKey(SocketIOSession.self, variant: variant)) { message in
            webSocket
                ? WebSocketFrameWriter.textFrame(capacity: message.payload.readableBytes + 128) {
                    SocketIOSession.writeEvent(&$0, message, namespace: namespace, withOffset: withOffset)
                }
                : SocketIOSession.eventText(message, namespace: namespace, withOffset: withOffset)
        }
        if webSocket { sendEncoded(frame: bytes, text: bytes) } else { sendEncoded(frame: nil, text: bytes) }
        if withOffset, let position = message.position {
            socket.recordDelivery(slot: subscription.localIndex & 0xFFFF, position: position)
        }
        return .delivered(bytes: bytes.readableBytes)
    }

    func flushDeliveries() {
        flush()
    }

    /// A missed message replayed on recovery (not shared: it goes to this one socket).
    func deliverMissed(_ message: BusMessage, subscription: BusSubscription) {
        let slot = subscription.localIndex >> 16
        guard let socket = sockets[slot] else { return }
        let withOffset = socket.canRecover && message.position != nil
        sendEncoded(
            frame: nil, text: SocketIOSession.eventText(message, namespace: socket.namespace, withOffset: withOffset))
        if withOffset, let position = message.position {
            socket.recordDelivery(slot: subscription.localIndex & 0xFFFF, position: position)
        }
    }

    private func slowConsumer() -> DeliveryOutcome {
        if configuration.slowConsumerPolicy == .disconnect {
            services.counters.countSlowConsumer()
            close(.server(.slowConsumer))
        }
        return .dropped
    }

    static func eventText(_ message: BusMessage, namespace: String, withOffset: Bool) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(message.payload.readableBytes + 128)
        writeEvent(&buffer, message, namespace: namespace, withOffset: withOffset)
        return buffer
    }

    /// `2<ns,>["event",{…message…}(,"offset")]` — the Socket.IO EVENT text.
    static func writeEvent(_ buffer: inout ByteBuffer, _ message: BusMessage, namespace: String, withOffset: Bool) {
        buffer.writeStaticString("2")
        if namespace != "/" {
            buffer.writeString(namespace)
            buffer.writeStaticString(",")
        }
        buffer.writeStaticString("[")
        switch message.kind {
        case .publish: buffer.writeJSONString(message.headers.eventType ?? "message")
        case .join: buffer.writeStaticString("\"join\"")
        case .leave: buffer.writeStaticString("\"leave\"")
        }
        buffer.writeStaticString(",")
        BusJSON.message(&buffer, message)
        if withOffset, let position = message.position {
            buffer.writeStaticString(",")
            SocketIOOffset.write(&buffer, channel: message.topic.name, offset: position.offset)
        }
        buffer.writeStaticString("]")
    }
}
