package import NIOCore
package import NIOWebSocket

extension WebSocketFrameWriter {
    /// A data message as one final frame, compressed (RSV1 set, RFC 7692 §6) when it is at least
    /// `compression.minimumBytes` long; shorter messages, and any message zlib fails on, go uncompressed,
    /// which the extension allows per message.
    package static func frame(
        _ opcode: WebSocketOpcode, payload: ByteBuffer, deflate parameters: WebSocketDeflateParameters,
        compression: WebSocketCompression, allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> ByteBuffer {
        guard payload.readableBytes >= max(1, compression.minimumBytes),
            var compressed = try? WebSocketDeflateCodec.current.compress(
                payload, windowBits: parameters.serverMaxWindowBits, level: compression.level, headroom: 10,
                allocator: allocator)
        else { return frame(opcode, payload: payload, allocator: allocator) }
        prependHeader(opcode, compressed: true, to: &compressed)
        return compressed
    }

    /// The compressed form of a complete uncompressed final frame made by this writer (`frame`,
    /// `textFrame`): the same message, compressed as `frame(_:payload:deflate:compression:)` does.
    /// Lets a handler encode a message once, as usual, and share the compressed frame it derives.
    package static func deflating(
        _ frame: ByteBuffer, deflate parameters: WebSocketDeflateParameters, compression: WebSocketCompression,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> ByteBuffer {
        guard let first = frame.getInteger(at: frame.readerIndex, as: UInt8.self),
            let second = frame.getInteger(at: frame.readerIndex + 1, as: UInt8.self),
            let opcode = WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F), first & 0x70 == 0
        else { return frame }
        let headerLength = second & 0x7F < 126 ? 2 : (second & 0x7F == 126 ? 4 : 10)
        guard opcode == .text || opcode == .binary, frame.readableBytes - headerLength >= compression.minimumBytes,
            let payload = frame.getSlice(
                at: frame.readerIndex + headerLength, length: frame.readableBytes - headerLength)
        else { return frame }
        let compressed = self.frame(
            opcode, payload: payload, deflate: parameters, compression: compression, allocator: allocator)
        // Not smaller (incompressible data): the plain frame is the better wire form.
        return compressed.readableBytes < frame.readableBytes ? compressed : frame
    }
}
