package import NIOCore

/// What the byte stream of a connection decodes to: first the protocol header, then frames.
package enum AMQPInbound: Sendable, Hashable {
    case protocolHeader(AMQPProtocolHeader)
    case frame(AMQPFrame)
}

/// Splits a connection's bytes into the protocol header and then frames. `decode` returns nil when the
/// buffer does not yet hold a whole unit (leaving the reader index where it was), and throws only for
/// malformed input; the size is checked against `frameMax` from the frame header alone, before the
/// payload is waited for or buffered.
package struct AMQPFrameDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = AMQPInbound

    /// Largest frame accepted, overhead included (plus `AMQPLimits.receivedFrameTolerance`). Starts at
    /// the spec's minimum, the most a client may send before tune-ok (§4.2.3); the frontend raises it to
    /// the negotiated frame-max.
    package var frameMax: Int
    /// Whether the protocol header is still to come.
    package var expectsProtocolHeader: Bool

    package init(frameMax: Int = AMQPLimits.minFrameMax, expectsProtocolHeader: Bool = true) {
        self.frameMax = frameMax
        self.expectsProtocolHeader = expectsProtocolHeader
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> AMQPInbound? {
        try next(&buffer)
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> AMQPInbound? {
        try next(&buffer)
    }

    /// The step itself, with the typed error (`decode(buffer:)` is the protocol's untyped spelling).
    package mutating func next(_ buffer: inout ByteBuffer) throws(AMQPError) -> AMQPInbound? {
        if expectsProtocolHeader {
            guard let header = AMQPProtocolHeader.decode(&buffer) else { return nil }
            expectsProtocolHeader = false
            return .protocolHeader(header)
        }
        return try Self.decodeFrame(&buffer, frameMax: frameMax).map(AMQPInbound.frame)
    }

    /// One frame, or nil when it has not all arrived.
    package static func decodeFrame(_ buffer: inout ByteBuffer, frameMax: Int) throws(AMQPError) -> AMQPFrame? {
        let start = buffer.readerIndex
        guard let typeOctet = buffer.getInteger(at: start, as: UInt8.self),
            let channel = buffer.getInteger(at: start + 1, as: UInt16.self),
            let size = buffer.getInteger(at: start + 3, as: UInt32.self)
        else { return nil }
        // §4.2.3: frame-max counts the whole frame; checked before the payload is buffered (RabbitMQ:
        // frame_too_large, 501), with RabbitMQ's tolerance for clients that forget the overhead.
        let total = Int(size) + AMQPLimits.frameOverhead
        guard total <= frameMax + AMQPLimits.receivedFrameTolerance else {
            throw .frameTooLarge(size: total, frameMax: frameMax)
        }
        guard buffer.readableBytes >= total else { return nil }
        // §4.2.3: an unknown frame type is a frame error (501).
        guard let type = AMQPFrameType(rawValue: typeOctet) else { throw .unknownFrameType(typeOctet) }
        let end = buffer.getInteger(at: start + total - 1, as: UInt8.self)!
        // §4.2.3: "If the frame-end octet is not correct, the recipient MUST raise a frame error" (501).
        guard end == AMQPFrame.frameEnd else { throw .badFrameEnd(end) }
        if type == .heartbeat {
            // §4.2.7: heartbeats are on channel 0, and carry nothing.
            guard channel == 0 else { throw .malformedFrame("heartbeat frame on channel \(channel)") }
            guard size == 0 else { throw .malformedFrame("heartbeat frame with a payload") }
        }
        buffer.moveReaderIndex(forwardBy: 7)
        let payload = buffer.readSlice(length: Int(size))!
        buffer.moveReaderIndex(forwardBy: 1)
        return AMQPFrame(type: type, channel: channel, payload: payload)
    }
}
