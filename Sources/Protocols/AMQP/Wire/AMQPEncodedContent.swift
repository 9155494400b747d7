package import NIOCore

/// A message's content as it goes on the wire, encoded once per message (DESIGN.md §4.4) and written
/// for every consumer: the header frame's payload (class, weight, size, flagged properties) and the body,
/// a shared slice. Only the channel number differs between consumers, and it is in the frame header.
package struct AMQPEncodedContent: Sendable, Hashable {
    /// The content header frame's payload (§4.2.6.1).
    package let headerPayload: ByteBuffer
    /// The body, split into body frames when written.
    package let body: ByteBuffer

    package init(properties: AMQPBasicProperties, body: ByteBuffer) {
        var header = ByteBuffer()
        AMQPContentHeader(bodySize: UInt64(body.readableBytes), properties: properties).write(to: &header)
        self.headerPayload = header
        self.body = body
    }

    /// Largest body frame payload for `frameMax` (0: no limit, one frame).
    @inline(__always)
    static func maxBodyFramePayload(frameMax: Int) -> Int {
        frameMax == 0 ? Int.max : frameMax - AMQPLimits.frameOverhead
    }

    /// Bytes `writeFrames` writes.
    package func framesSize(frameMax: Int) -> Int {
        let bodyBytes = body.readableBytes
        let perFrame = Self.maxBodyFramePayload(frameMax: frameMax)
        let bodyFrames = bodyBytes == 0 ? 0 : (bodyBytes - 1) / perFrame + 1
        return AMQPLimits.frameOverhead + headerPayload.readableBytes + bodyFrames * AMQPLimits.frameOverhead
            + bodyBytes
    }

    /// Writes the header frame and the body frames on `channel` (§4.2.6): each body frame at most
    /// `frameMax` bytes, overhead included; no body frame for an empty body. The body is written once,
    /// straight from its slice.
    package func writeFrames(channel: UInt16, frameMax: Int, to buffer: inout ByteBuffer) {
        precondition(frameMax == 0 || frameMax > AMQPLimits.frameOverhead, "frame-max leaves no room for a payload")
        buffer.writeInteger(AMQPFrameType.header.rawValue)
        buffer.writeInteger(channel)
        buffer.writeInteger(UInt32(headerPayload.readableBytes))
        buffer.writeImmutableBuffer(headerPayload)
        buffer.writeInteger(AMQPFrame.frameEnd)
        let perFrame = Self.maxBodyFramePayload(frameMax: frameMax)
        var offset = body.readerIndex
        var left = body.readableBytes
        while left > 0 {
            let count = min(left, perFrame)
            buffer.writeInteger(AMQPFrameType.body.rawValue)
            buffer.writeInteger(channel)
            buffer.writeInteger(UInt32(count))
            body.withUnsafeReadableBytes { bytes in
                let start = offset - body.readerIndex
                _ = buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + count)]))
            }
            buffer.writeInteger(AMQPFrame.frameEnd)
            offset += count
            left -= count
        }
    }
}
