import NIOCore

/// A minimal, allocation-light WebSocket client for Switchboard's `switchboard.v1` protocol.
///
/// It does the HTTP/1.1 upgrade itself (GET with `Sec-WebSocket-Protocol: switchboard.v1`; it checks
/// the 101 status but does not verify `Sec-WebSocket-Accept`, since the server is trusted), writes
/// masked client frames straight into one buffer per batch, and parses server frames in place.
/// Text frames that carry a benchmark payload are reported as deliveries; every other text frame is
/// a reply (or an error when it says `"type":"error"`). Pings are answered, closes are echoed.
/// Everything runs synchronously on the channel's event loop.
final class WebSocketClientHandler: ChannelInboundHandler, BenchRPCLink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection is in its life.
    private enum State {
        /// Upgrade request sent; waiting for the 101 response.
        case awaitingUpgrade
        /// Frames flow both ways.
        case open
        /// We sent a close frame and wait for the server's.
        case closing
        /// The channel is closed or closing; nothing more is written.
        case closed
    }

    private var state = State.awaitingUpgrade
    private let target: BenchTarget
    private let role: any BenchRole
    /// The role when it reads every non-payload text frame itself (collab-vote), looked up once.
    private let textRole: (any BenchTextRole)?
    private var context: ChannelHandlerContext?
    /// Bytes of a frame (or of the upgrade response) that arrived split across reads.
    private var cumulation = ReadCumulation()
    /// A fragmented text message being reassembled (rare: servers send benchmark frames whole).
    private var fragments: ByteBuffer?
    private let maskKey = UInt32.random(in: 1...UInt32.max)
    private var nextRequestID = 0
    /// `"type":"publish","channel":"C","data":"` — everything between `{`/`{"id":N,` and the payload.
    private let publishBody: [UInt8]
    private var payloadTemplate: [UInt8] = []
    /// Shared so an unacknowledged publish allocates nothing for its opening brace.
    private static let openingBrace: [UInt8] = [UInt8(ascii: "{")]

    init(target: BenchTarget, role: any BenchRole) {
        self.target = target
        self.role = role
        self.textRole = role as? any BenchTextRole
        self.publishBody = Array(#""type":"publish","channel":"\#(target.channel)","data":""#.utf8)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendUpgradeRequest(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendUpgradeRequest(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        self.context = nil
        role.linkClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        role.errorReceived(self, message: "\(error)", answersRequest: false)
        state = .closed
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        cumulation.prepend(to: &buffer, allocator: context.channel.allocator)
        do {
            try process(&buffer)
        } catch {
            errorCaught(context: context, error: error)
            return
        }
        cumulation.keep(buffer)
    }

    // MARK: - Reading

    private func process(_ buffer: inout ByteBuffer) throws {
        if state == .awaitingUpgrade {
            guard try consumeUpgradeResponse(&buffer) else { return }
        }
        var receivedAt: UInt64 = 0
        while state == .open || state == .closing, let header = try WebSocketFrameParser.parseHeader(buffer) {
            guard buffer.readableBytes >= header.headerLength + header.payloadLength else { return }
            buffer.moveReaderIndex(forwardBy: header.headerLength)
            let payloadEnd = buffer.readerIndex + header.payloadLength
            defer { buffer.moveReaderIndex(to: payloadEnd) }
            switch header.opcode {
            case 0x1 where header.fin && fragments == nil:
                let sentAt = buffer.withUnsafeReadableBytes { bytes in
                    BenchPayload.timestamp(in: UnsafeRawBufferPointer(rebasing: bytes[0..<header.payloadLength]))
                }
                if let sentAt {
                    if receivedAt == 0 { receivedAt = BenchClock.now() }
                    role.deliveryReceived(sentAt: sentAt, receivedAt: receivedAt)
                } else {
                    if textRole != nil, receivedAt == 0 { receivedAt = BenchClock.now() }
                    handleReply(
                        buffer.getSlice(at: buffer.readerIndex, length: header.payloadLength)!, receivedAt: receivedAt)
                }
            case 0x1, 0x0:
                var slice = buffer.getSlice(at: buffer.readerIndex, length: header.payloadLength)!
                if fragments == nil { fragments = slice } else { fragments!.writeBuffer(&slice) }
                if header.fin, let message = fragments {
                    fragments = nil
                    handleText(message)
                }
            case 0x8:
                // RFC 6455 §5.5.1: answer a close with a close, then the server closes TCP.
                if state == .open { writeControl(opcode: 0x8, payload: [0x03, 0xE8]) }
                state = .closed
                context?.close(promise: nil)
            case 0x9:
                // RFC 6455 §5.5.3: a pong carries the ping's application data.
                let payload = buffer.getBytes(at: buffer.readerIndex, length: header.payloadLength) ?? []
                writeControl(opcode: 0xA, payload: payload)
            default:
                break  // pong, binary: ignored
            }
        }
    }

    /// Consumes the HTTP upgrade response; returns true once the connection is open.
    private func consumeUpgradeResponse(_ buffer: inout ByteBuffer) throws -> Bool {
        guard try WebSocketUpgrade.consumeResponse(&buffer) else { return false }
        state = .open
        role.linkReady(self)
        return true
    }

    private func handleText(_ message: ByteBuffer) {
        let sentAt = message.withUnsafeReadableBytes { BenchPayload.timestamp(in: $0) }
        if let sentAt {
            role.deliveryReceived(sentAt: sentAt, receivedAt: BenchClock.now())
        } else {
            handleReply(message, receivedAt: BenchClock.now())
        }
    }

    private func handleReply(_ message: ByteBuffer, receivedAt: UInt64) {
        if let textRole {
            textRole.textReceived(self, message: message, receivedAt: receivedAt)
            return
        }
        let text = String(buffer: message)
        let answersRequest = text.contains(#""id":"#)
        if text.contains(#""type":"error""#) {
            role.errorReceived(self, message: text, answersRequest: answersRequest)
        } else if answersRequest {
            role.replyReceived(self)
        }
    }

    // MARK: - Writing (BenchLink)

    private func sendUpgradeRequest(context: ChannelHandlerContext) {
        guard state == .awaitingUpgrade, context.channel.isActive else { return }
        let request = WebSocketUpgrade.request(pathAndQuery: target.path, target: target, subprotocol: "switchboard.v1")
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func sendSubscribe(channel: String) {
        nextRequestID += 1
        writeText(#"{"id":\#(nextRequestID),"type":"subscribe","channel":"\#(channel)"}"#)
        flush()
    }

    func sendRPC(channel: String, data: String, timeoutMilliseconds: Int) -> Int {
        nextRequestID += 1
        writeText(
            #"{"id":\#(nextRequestID),"type":"rpc","channel":"\#(channel)","data":\#(data),"timeout":\#(timeoutMilliseconds)}"#
        )
        flush()
        return nextRequestID
    }

    func writePublishes(count: Int, payloadSize: Int, now: UInt64, acknowledged: Bool) {
        guard state == .open, let context, count > 0 else { return }
        if payloadTemplate.count != max(payloadSize, BenchPayload.minimumSize) {
            payloadTemplate = BenchPayload.template(size: payloadSize)
        }
        // Every message of a batch carries the same timestamp and mask key, so the masked frame of an
        // unacknowledged publish is built once per batch and copied; only the acknowledged one differs.
        let plainCount = acknowledged ? count - 1 : count
        var plainFrame = ByteBuffer()
        if plainCount > 0 { writePublishFrame(opening: Self.openingBrace, now: now, into: &plainFrame) }
        var buffer = context.channel.allocator.buffer(capacity: count * (plainFrame.readableBytes + 16) + 64)
        for _ in 0..<plainCount { buffer.writeImmutableBuffer(plainFrame) }
        if acknowledged {
            nextRequestID += 1
            writePublishFrame(opening: Array(#"{"id":\#(nextRequestID),"#.utf8), now: now, into: &buffer)
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// Appends one masked `publish` frame whose JSON starts with `opening` (`{` or `{"id":N,`).
    private func writePublishFrame(opening: [UInt8], now: UInt64, into buffer: inout ByteBuffer) {
        let length = opening.count + publishBody.count + payloadTemplate.count + 2
        WebSocketFrameParser.writeClientHeader(opcode: 0x1, length: length, maskKey: maskKey, into: &buffer)
        let start = buffer.writerIndex - buffer.readerIndex
        buffer.writeBytes(opening)
        buffer.writeBytes(publishBody)
        buffer.writeBytes(payloadTemplate)
        buffer.writeInteger(UInt16(0x227D))  // `"}`
        let digitsAt = start + opening.count + publishBody.count + BenchPayload.marker.count
        buffer.withUnsafeMutableReadableBytes { bytes in
            BenchPayload.patchDigits(bytes, at: digitsAt, value: now)
            WebSocketFrameParser.mask(bytes, offset: start, count: length, maskKey: maskKey)
        }
    }

    func flush() {
        context?.flush()
    }

    func close() {
        guard let context else { return }
        guard state == .open else {
            if state == .awaitingUpgrade { context.close(promise: nil) }
            return
        }
        writeControl(opcode: 0x8, payload: [0x03, 0xE8])  // 1000 normal closure
        state = .closing
        // If the server never completes the close handshake, don't hold the socket forever.
        context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { [weak self] in
            self?.context?.close(promise: nil)
        }
    }

    private func writeText(_ text: String) {
        guard let context, state == .open else { return }
        let bytes = Array(text.utf8)
        var buffer = context.channel.allocator.buffer(capacity: bytes.count + 14)
        WebSocketFrameParser.writeClientHeader(opcode: 0x1, length: bytes.count, maskKey: maskKey, into: &buffer)
        let start = buffer.writerIndex - buffer.readerIndex
        buffer.writeBytes(bytes)
        buffer.withUnsafeMutableReadableBytes { raw in
            WebSocketFrameParser.mask(raw, offset: start, count: bytes.count, maskKey: maskKey)
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func writeControl(opcode: UInt8, payload: [UInt8]) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: payload.count + 6)
        WebSocketFrameParser.writeClientHeader(opcode: opcode, length: payload.count, maskKey: maskKey, into: &buffer)
        let start = buffer.writerIndex - buffer.readerIndex
        buffer.writeBytes(payload)
        buffer.withUnsafeMutableReadableBytes { raw in
            WebSocketFrameParser.mask(raw, offset: start, count: payload.count, maskKey: maskKey)
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }
}

/// Standard base64 (RFC 4648 §4) for the 16-byte `Sec-WebSocket-Key`.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Encodes `bytes` with padding.
    static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<4 {
                output.append(
                    position <= chunk.count
                        ? alphabet[Int((value >> (18 - 6 * UInt32(position))) & 63)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}
