package import NIOCore

/// Collects the binary attachments that follow a BINARY_EVENT or BINARY_ACK (socket.io-protocol v5:
/// the packet's text comes first, then one binary Engine.IO message per placeholder).
package struct SocketIOBinaryAssembler: Sendable {
    /// The packet waiting for attachments, and those received so far.
    private var pending: (packet: SocketIOPacket, attachments: [ByteBuffer])?

    package init() {}

    /// Whether attachments are awaited (then a text message is a protocol violation).
    package var isAssembling: Bool { pending != nil }

    /// A decoded packet: returned whole when it needs no attachments, else kept until they arrive.
    package mutating func packetReceived(_ packet: SocketIOPacket) -> SocketIOMessage? {
        precondition(pending == nil, "a packet arrived while attachments were awaited")
        guard packet.type.isBinary, packet.attachments > 0 else {
            return SocketIOMessage(packet: packet, attachments: [])
        }
        pending = (packet, [])
        return nil
    }

    /// One binary message: the completed packet once the last attachment is in.
    package mutating func attachmentReceived(_ bytes: ByteBuffer) throws(SocketIOError) -> SocketIOMessage? {
        guard var current = pending else { throw .invalidPacket("unexpected binary attachment") }
        current.attachments.append(bytes)
        guard current.attachments.count == current.packet.attachments else {
            pending = current
            return nil
        }
        pending = nil
        return SocketIOMessage(packet: current.packet, attachments: current.attachments)
    }
}

/// A whole Socket.IO message: the packet and its binary attachments (in placeholder order).
package struct SocketIOMessage: Sendable, Equatable {
    package var packet: SocketIOPacket
    package var attachments: [ByteBuffer]

    package init(packet: SocketIOPacket, attachments: [ByteBuffer] = []) {
        self.packet = packet
        self.attachments = attachments
    }

    /// The Engine.IO packets that carry it: the text, then each attachment as a binary message.
    package var engineIOPackets: [EngineIOPacket] {
        var packet = self.packet
        if !attachments.isEmpty {
            packet.attachments = attachments.count
            if packet.type == .event { packet.type = .binaryEvent }
            if packet.type == .ack { packet.type = .binaryAck }
        }
        return [.message(packet.encoded)] + attachments.map { .binary($0) }
    }
}
