import NIOCore

/// A minimal Socket.IO v5 client over Engine.IO v4's WebSocket transport (WebSocket-only, as
/// socket.io-client with `transports: ["websocket"]`), speaking the hub's event vocabulary.
///
/// It upgrades `GET <path>?EIO=4&transport=websocket`, reads the `0{…}` open packet, connects the main
/// namespace with `40` and reports the link ready on `40{"sid":…}`. Subscribing is the `subscribe` event
/// with an ack; publishing is the `publish` event, fire-and-forget except the last of an acknowledged
/// batch, which asks for an ack. Every `42` event is scanned in place for the payload's timestamp (the
/// trailing recovery offset, when the server adds one, is ignored); a `43` ack is a reply, or an error
/// when it says `{"error":…}`. Server pings (`2`) are answered with `3`. Each Engine.IO packet is one
/// WebSocket text frame; frames are parsed by ``WebSocketFrameParser``, as in ``WebSocketClientHandler``.
final class SocketIOClientHandler: ChannelInboundHandler, BenchLink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection is in its life.
    private enum State {
        /// Upgrade request sent; waiting for the 101 response.
        case awaitingUpgrade
        /// WebSocket open; waiting for Engine.IO's open packet and the namespace's CONNECT answer.
        case connecting
        /// The main namespace is connected: events flow both ways.
        case open
        /// We sent a close frame and wait for the server's.
        case closing
        /// The channel is closed or closing; nothing more is written.
        case closed
    }

    private var state = State.awaitingUpgrade
    private let target: BenchTarget
    private let role: any BenchRole
    private var context: ChannelHandlerContext?
    /// Bytes of a frame (or of the upgrade response) that arrived split across reads.
    private var cumulation = ReadCumulation()
    /// A fragmented text message being reassembled (rare: servers send packets in one frame).
    private var fragments: ByteBuffer?
    private let maskKey = UInt32.random(in: 1...UInt32.max)
    private var nextAckID = 0
    /// `"publish",{"channel":"C","data":"` — between `42[`/`42<id>[` and the payload.
    private let publishBody: [UInt8]
    private var payloadTemplate: [UInt8] = []
    /// Shared so an unacknowledged publish allocates nothing for its opening.
    private static let eventOpening: [UInt8] = Array("42[".utf8)

    init(target: BenchTarget, role: any BenchRole) {
        self.target = target
        self.role = role
        self.publishBody = SocketIOClientPackets.publishBody(channel: target.channel)
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
            guard try WebSocketUpgrade.consumeResponse(&buffer) else { return }
            state = .connecting
        }
        var receivedAt: UInt64 = 0
        while state == .open || state == .connecting || state == .closing,
            let header = try WebSocketFrameParser.parseHeader(buffer)
        {
            guard buffer.readableBytes >= header.headerLength + header.payloadLength else { return }
            buffer.moveReaderIndex(forwardBy: header.headerLength)
            let payloadEnd = buffer.readerIndex + header.payloadLength
            defer { buffer.moveReaderIndex(to: payloadEnd) }
            switch header.opcode {
            case 0x1 where header.fin && fragments == nil:
                buffer.withUnsafeReadableBytes { bytes in
                    handlePacket(UnsafeRawBufferPointer(rebasing: bytes[0..<header.payloadLength]), &receivedAt)
                }
            case 0x1, 0x0:
                var slice = buffer.getSlice(at: buffer.readerIndex, length: header.payloadLength)!
                if fragments == nil { fragments = slice } else { fragments!.writeBuffer(&slice) }
                if header.fin, let message = fragments {
                    fragments = nil
                    message.withUnsafeReadableBytes { handlePacket($0, &receivedAt) }
                }
            case 0x8:
                // RFC 6455 §5.5.1: answer a close with a close, then the server closes TCP.
                if state != .closing { writeControl(opcode: 0x8, payload: [0x03, 0xE8]) }
                state = .closed
                context?.close(promise: nil)
            case 0x9:
                // RFC 6455 §5.5.3: a pong carries the ping's application data.
                let payload = buffer.getBytes(at: buffer.readerIndex, length: header.payloadLength) ?? []
                writeControl(opcode: 0xA, payload: payload)
            default:
                break  // pong, binary (attachments): ignored
            }
        }
    }

    /// One Engine.IO packet. Deliveries are the hot path: classified by two bytes, scanned in place.
    private func handlePacket(_ bytes: UnsafeRawBufferPointer, _ receivedAt: inout UInt64) {
        switch SocketIOClientPackets.classify(bytes) {
        case .event:
            guard let sentAt = BenchPayload.timestamp(in: bytes) else { return }  // join/leave, other events
            if receivedAt == 0 { receivedAt = BenchClock.now() }
            role.deliveryReceived(sentAt: sentAt, receivedAt: receivedAt)
        case .ack(let isError):
            if isError {
                role.errorReceived(self, message: String(decoding: bytes, as: UTF8.self), answersRequest: true)
            } else {
                role.replyReceived(self)
            }
        case .ping:
            writeText(SocketIOClientPackets.pong)
            flush()
        case .open:
            guard state == .connecting else { return }
            writeText(SocketIOClientPackets.connect)
            flush()
        case .connected:
            guard state == .connecting else { return }
            state = .open
            role.linkReady(self)
        case .connectError, .disconnected, .close:
            role.errorReceived(
                self, message: "socket.io: \(String(decoding: bytes, as: UTF8.self))", answersRequest: false)
            state = .closed
            context?.close(promise: nil)
        case .other:
            break
        }
    }

    // MARK: - Writing (BenchLink)

    private func sendUpgradeRequest(context: ChannelHandlerContext) {
        guard state == .awaitingUpgrade, context.channel.isActive else { return }
        let request = WebSocketUpgrade.request(
            pathAndQuery: "\(target.path)?\(SocketIOClientPackets.query(transport: "websocket"))", target: target,
            subprotocol: nil)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func sendSubscribe(channel: String) {
        nextAckID += 1
        writeText(SocketIOClientPackets.subscribe(channel: channel, ackID: nextAckID))
        flush()
    }

    func writePublishes(count: Int, payloadSize: Int, now: UInt64, acknowledged: Bool) {
        guard state == .open, let context, count > 0 else { return }
        if payloadTemplate.count != max(payloadSize, BenchPayload.minimumSize) {
            payloadTemplate = BenchPayload.template(size: payloadSize)
        }
        // As in WebSocketClientHandler: the fire-and-forget frame is built once per batch and copied; only
        // the acknowledged one (`42<id>[…`) differs.
        let plainCount = acknowledged ? count - 1 : count
        var plainFrame = ByteBuffer()
        if plainCount > 0 { writePublishFrame(opening: Self.eventOpening, now: now, into: &plainFrame) }
        var buffer = context.channel.allocator.buffer(capacity: count * (plainFrame.readableBytes + 16) + 64)
        for _ in 0..<plainCount { buffer.writeImmutableBuffer(plainFrame) }
        if acknowledged {
            nextAckID += 1
            writePublishFrame(opening: Array("42\(nextAckID)[".utf8), now: now, into: &buffer)
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// Appends one masked `publish` event frame whose text starts with `opening` (`42[` or `42<id>[`).
    private func writePublishFrame(opening: [UInt8], now: UInt64, into buffer: inout ByteBuffer) {
        let end = SocketIOClientPackets.publishEnd
        let length = opening.count + publishBody.count + payloadTemplate.count + end.count
        WebSocketFrameParser.writeClientHeader(opcode: 0x1, length: length, maskKey: maskKey, into: &buffer)
        let start = buffer.writerIndex - buffer.readerIndex
        buffer.writeBytes(opening)
        buffer.writeBytes(publishBody)
        buffer.writeBytes(payloadTemplate)
        buffer.writeBytes(end)
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
        switch state {
        case .awaitingUpgrade:
            context.close(promise: nil)
        case .connecting, .open:
            // Engine.IO close (`1`), then the WebSocket close handshake.
            writeText(Array("1".utf8))
            writeControl(opcode: 0x8, payload: [0x03, 0xE8])  // 1000 normal closure
            state = .closing
            // If the server never completes the close handshake, don't hold the socket forever.
            context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { [weak self] in
                self?.context?.close(promise: nil)
            }
        case .closing, .closed:
            break
        }
    }

    private func writeText(_ bytes: [UInt8]) {
        guard let context, state == .open || state == .connecting else { return }
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
