package import NIOCore

/// The eight octets a client sends before its first frame (§4.2.2): "AMQP", 0, then protocol id 0 and
/// version 9.1.
package enum AMQPProtocolHeader: Sendable, Hashable {
    /// `AMQP 0 0 9 1` (or 0-9's `AMQP 1 1 0 9`, as RabbitMQ): the version we speak.
    case amqp0_9_1
    /// Anything else, as received. §4.2.2: the server "MUST write a valid protocol header to the open
    /// socket" (`supportedBytes`) "and then close the socket connection" — no frame is sent.
    case unsupported([UInt8])

    /// The header of the version we speak, which is also the reply to an unsupported one.
    package static let supportedBytes: [UInt8] = [0x41, 0x4D, 0x51, 0x50, 0x00, 0x00, 0x09, 0x01]

    /// AMQP 0-9's header, which old clients send.
    static let legacy0_9Bytes: [UInt8] = [0x41, 0x4D, 0x51, 0x50, 0x01, 0x01, 0x00, 0x09]

    /// Byte count of a protocol header.
    package static let size = 8

    /// Reads a header, or returns nil (moving nothing) when fewer than eight octets have arrived.
    package static func decode(_ buffer: inout ByteBuffer) -> AMQPProtocolHeader? {
        guard let bytes = buffer.readBytes(length: size) else { return nil }
        // RabbitMQ also takes the 0-9 header ("AMQP" 1 1 0 9) as 0-9-1: the framing is the same, and
        // connection.start only carries major and minor (rabbit_reader's version_negotiation).
        return bytes == supportedBytes || bytes == legacy0_9Bytes ? .amqp0_9_1 : .unsupported(bytes)
    }

    /// Writes the supported header (what a client sends; the reply to an unsupported one).
    package static func write(to buffer: inout ByteBuffer) {
        buffer.writeBytes(supportedBytes)
    }
}
