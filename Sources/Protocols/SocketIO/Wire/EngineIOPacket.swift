import BusCore
package import NIOCore

/// The seven Engine.IO v4 packet types; on the wire, text packets start with the type's digit.
package enum EngineIOPacketType: UInt8, Sendable, Equatable {
    /// Sent by the server with the handshake JSON.
    case open = 0
    /// Either side asks to close the session.
    case close = 1
    /// Heartbeat request (server → client in v4; `2probe` from the client during an upgrade).
    case ping = 2
    /// Heartbeat answer (`3probe` from the server during an upgrade).
    case pong = 3
    /// A message: what the upper layer (Socket.IO) carries.
    case message = 4
    /// The client switched to the new transport.
    case upgrade = 5
    /// Ends a pending poll during an upgrade.
    case noop = 6

    /// The type for a packet's first character, or nil when it is not one.
    package init?(character: UInt8) {
        guard character >= UInt8(ascii: "0"), character <= UInt8(ascii: "6") else { return nil }
        self.init(rawValue: character - UInt8(ascii: "0"))
    }

    /// The type's digit.
    package var character: UInt8 { rawValue + UInt8(ascii: "0") }
}

/// One Engine.IO packet: a type and its data, text (UTF-8) or binary. Binary data only travels in
/// `message` packets (a binary WebSocket frame, or `b` + base64 in a polling payload).
package struct EngineIOPacket: Sendable, Equatable {
    package var type: EngineIOPacketType
    /// The data after the type character (text), or the raw bytes (binary).
    package var data: ByteBuffer
    /// Whether `data` is binary.
    package var isBinary: Bool

    package init(_ type: EngineIOPacketType, data: ByteBuffer = ByteBuffer(), isBinary: Bool = false) {
        self.type = type
        self.data = data
        self.isBinary = isBinary
    }

    /// A text message packet.
    package static func message(_ text: ByteBuffer) -> EngineIOPacket { EngineIOPacket(.message, data: text) }

    /// A binary message packet.
    package static func binary(_ bytes: ByteBuffer) -> EngineIOPacket {
        EngineIOPacket(.message, data: bytes, isBinary: true)
    }

    /// Decodes a text packet: a WebSocket text message, or one packet of a polling payload.
    package static func decodeText(_ bytes: ByteBuffer) throws(EngineIOError) -> EngineIOPacket {
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else {
            throw EngineIOError.invalidPacket("empty packet")
        }
        guard let type = EngineIOPacketType(character: first) else {
            throw EngineIOError.invalidPacket("unknown packet type")
        }
        return EngineIOPacket(type, data: bytes.getSlice(at: bytes.readerIndex + 1, length: bytes.readableBytes - 1)!)
    }

    /// Writes the packet as a text packet (`<type><data>`); binary data as `b<base64>` (the polling form).
    package func writeText(into buffer: inout ByteBuffer) {
        if isBinary {
            buffer.writeInteger(UInt8(ascii: "b"))
            data.withUnsafeReadableBytes { Base64.encode($0, into: &buffer) }
        } else {
            buffer.writeInteger(type.character)
            buffer.writeImmutableBuffer(data)
        }
    }
}
