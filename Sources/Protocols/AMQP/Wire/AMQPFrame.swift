package import NIOCore

/// The four frame types (§4.2.3; heartbeat is 8 in 0-9-1, §4.2.7).
package enum AMQPFrameType: UInt8, Sendable, Hashable {
    case method = 1
    case header = 2
    case body = 3
    case heartbeat = 8
}

/// One frame (§4.2.3): type, channel, and the payload between the size and frame-end, as a slice of
/// the received bytes (never copied).
package struct AMQPFrame: Sendable, Hashable {
    package var type: AMQPFrameType
    package var channel: UInt16
    package var payload: ByteBuffer

    package init(type: AMQPFrameType, channel: UInt16, payload: ByteBuffer) {
        self.type = type
        self.channel = channel
        self.payload = payload
    }

    /// frame-end (§4.2.3).
    package static let frameEnd: UInt8 = 0xCE

    /// A heartbeat frame: channel 0, empty payload (§4.2.7).
    package static let heartbeat = AMQPFrame(type: .heartbeat, channel: 0, payload: ByteBuffer())

    /// The frame's bytes: header, payload, frame-end.
    package func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(channel)
        buffer.writeInteger(UInt32(payload.readableBytes))
        buffer.writeImmutableBuffer(payload)
        buffer.writeInteger(Self.frameEnd)
    }

    /// The eight bytes of a heartbeat frame, for the frontend's timer.
    package static let heartbeatBytes: [UInt8] = [8, 0, 0, 0, 0, 0, 0, 0xCE]
}
