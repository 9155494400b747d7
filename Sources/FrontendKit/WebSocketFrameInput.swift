package import NIOCore
package import NIOWebSocket

/// An upgraded connection's inbound side in one pipeline handler: cuts client frames out of the byte
/// stream (RFC 6455 §5.2) and runs each through the connection's `WebSocketClientFrameValidator`, which
/// it owns rather than giving it a pipeline context of its own. Holds bytes only while a frame is
/// incomplete.
///
/// NIO's `ByteToMessageHandler(WebSocketFrameDecoder)` plus the validator in its own context cost an idle
/// connection ~600 B (the handler, its two ring buffers and their storage, the decoder, a context; issue
/// 25's breakdown in Benchmarks/analysis.md); this handler and its validator cost ~150 B. It raises what
/// NIO's decoder raises, at the same point (as soon as the header shows it, before the payload is
/// buffered): `NIOWebSocketError.invalidFrameLength` past `maxFrameSize`, `.fragmentedControlFrame` and
/// `.multiByteControlFrameLength` for control frames; the first error is raised once (`errorCaught`) and
/// everything after it is dropped. Frames leave in order; bytes fed back from inside a frame handler
/// queue behind those of the read being cut.
package final class WebSocketFrameInput: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = ByteBuffer
    package typealias InboundOut = WebSocketFrame

    private let maxFrameSize: Int
    private let validator: WebSocketClientFrameValidator
    /// The bytes of an incomplete frame; nil when the last read ended on a frame boundary, which is where
    /// an idle connection sits.
    private var pending: ByteBuffer?
    private var cutting = false
    private var failed = false

    /// `maxFrameSize`: the largest frame a peer may send, and (as for the validator) the largest message.
    package init(maxFrameSize: Int, deflate: WebSocketDeflateParameters? = nil) {
        self.maxFrameSize = maxFrameSize
        self.validator = WebSocketClientFrameValidator(maxMessageBytes: maxFrameSize, deflate: deflate)
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var buffer = unwrapInboundIn(data)
        if var held = pending {
            // Our reference goes first, so the held bytes can grow in place when nothing else shares them.
            pending = nil
            held.writeBuffer(&buffer)
            buffer = held
        }
        guard !cutting else {
            // Fed from inside a frame handler: these bytes wait behind those the running loop holds.
            pending = buffer
            return
        }
        cutting = true
        defer { cutting = false }
        while true {
            do {
                while !failed, let frame = try Self.nextFrame(&buffer, maxFrameSize: maxFrameSize) {
                    validator.validate(frame, context: context)
                }
            } catch {
                failed = true
                pending = nil
                context.fireErrorCaught(error)
                return
            }
            if failed { return }
            guard var arrived = pending else { break }
            pending = nil
            buffer.writeBuffer(&arrived)
        }
        if buffer.readableBytes > 0 { pending = buffer }
    }

    /// The next whole frame at `buffer`'s reader index, which moves past it; nil (nothing read) while the
    /// frame is incomplete. Throws as soon as the header breaks a rule.
    static func nextFrame(_ buffer: inout ByteBuffer, maxFrameSize: Int) throws -> WebSocketFrame? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self),
            let second = buffer.getInteger(at: start + 1, as: UInt8.self)
        else { return nil }
        var headerLength = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let word = buffer.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            length = Int(word)
            headerLength = 4
        } else if length == 127 {
            guard let quad = buffer.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            guard quad <= UInt64(maxFrameSize) else { throw NIOWebSocketError.invalidFrameLength }
            length = Int(quad)
            headerLength = 10
        }
        // RFC 6455 §5.5: control frames (opcodes 0x8–0xF) are never fragmented and carry at most 125 bytes.
        guard length <= maxFrameSize else { throw NIOWebSocketError.invalidFrameLength }
        if first & 0x08 != 0 {
            if first & 0x80 == 0 { throw NIOWebSocketError.fragmentedControlFrame }
            if length > 125 { throw NIOWebSocketError.multiByteControlFrameLength }
        }
        var maskKey: WebSocketMaskingKey?
        if second & 0x80 != 0 {
            let keyStart = start + headerLength
            guard buffer.writerIndex >= keyStart + 4 else { return nil }
            maskKey = WebSocketMaskingKey(buffer.readableBytesView[keyStart..<keyStart + 4])
            headerLength += 4
        }
        guard let data = buffer.getSlice(at: start + headerLength, length: length) else { return nil }
        buffer.moveReaderIndex(forwardBy: headerLength + length)
        return WebSocketFrame(
            fin: first & 0x80 != 0, rsv1: first & 0x40 != 0, rsv2: first & 0x20 != 0, rsv3: first & 0x10 != 0,
            opcode: WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F)!, maskKey: maskKey, data: data)
    }
}
