import NIOCore

/// A minimal SignalR client on the WebSocket transport, speaking the hub's methods in the JSON or the
/// MessagePack hub protocol.
///
/// It skips negotiation, as ASP.NET Core allows for WebSockets: it upgrades `GET <path>` (no `id`),
/// sends the handshake `{"protocol":…,"version":1}` + 0x1E in a text frame and reports the link ready
/// on the server's `{}`. Subscribing is a `Subscribe(channel)` invocation with an id, its completion the
/// reply; publishing is `Publish(channel, data)` with the payload as a string, fire-and-forget except
/// the last of an acknowledged batch, which has an id. Messages delimit themselves (record separator or
/// VarInt length), so WebSocket frames are read as one byte stream, each message found in place:
/// invocations of the client are scanned for the payload's timestamp (presence invocations have none),
/// completions classified by a few bytes, server pings ignored. The client pings every
/// ``keepAliveInterval`` it has sent nothing else, so a subscriber that only receives outlives the
/// server's client timeout. Frames are parsed by ``WebSocketFrameParser``, as in
/// ``WebSocketClientHandler``.
final class SignalRClientHandler: ChannelInboundHandler, BenchLink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// ASP.NET Core clients' `KeepAliveInterval`: half the server's default `ClientTimeoutInterval` (30 s).
    static let keepAliveInterval = TimeAmount.seconds(15)

    /// Where the connection is in its life.
    private enum State {
        /// Upgrade request sent; waiting for the 101 response.
        case awaitingUpgrade
        /// WebSocket open and the handshake sent; waiting for the handshake response.
        case handshaking
        /// The handshake was accepted: hub messages flow both ways.
        case open
        /// We sent a close frame and wait for the server's.
        case closing
        /// The channel is closed or closing; nothing more is written.
        case closed
    }

    private var state = State.awaitingUpgrade
    private let target: BenchTarget
    private let role: any BenchRole
    private let encoding: SignalRHubEncoding
    private var context: ChannelHandlerContext?
    /// Bytes of a frame (or of the upgrade response) that arrived split across reads.
    private var cumulation = ReadCumulation()
    /// The start of a hub message whose end has not arrived yet (rare: the server sends whole messages).
    private var partialMessage: ByteBuffer?
    private let maskKey = UInt32.random(in: 1...UInt32.max)
    private var nextInvocationID = 0
    private var payloadTemplate: [UInt8] = []
    /// Everything of a fire-and-forget publish before the payload (for MessagePack it holds the size).
    private var plainPublishPrefix: [UInt8] = []
    private let publishSuffix: [UInt8]
    private var keepAliveTask: Scheduled<Void>?
    private var wroteSinceKeepAlive = false

    init(target: BenchTarget, role: any BenchRole, encoding: SignalRHubEncoding) {
        self.target = target
        self.role = role
        self.encoding = encoding
        self.publishSuffix = SignalRClientMessages.publishSuffix(encoding)
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
        keepAliveTask?.cancel()
        keepAliveTask = nil
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

    private var reading: Bool { state == .handshaking || state == .open || state == .closing }

    private func process(_ buffer: inout ByteBuffer) throws {
        if state == .awaitingUpgrade {
            guard try WebSocketUpgrade.consumeResponse(&buffer) else { return }
            state = .handshaking
            writeMessage(SignalRClientMessages.handshake(encoding), opcode: 0x1)
            flush()
        }
        var receivedAt: UInt64 = 0
        while reading, let header = try WebSocketFrameParser.parseHeader(buffer) {
            guard buffer.readableBytes >= header.headerLength + header.payloadLength else { return }
            buffer.moveReaderIndex(forwardBy: header.headerLength)
            let payloadEnd = buffer.readerIndex + header.payloadLength
            defer { buffer.moveReaderIndex(to: payloadEnd) }
            switch header.opcode {
            case 0x0, 0x1, 0x2:
                // A frame may hold several messages and a message span frames: the payload is stream bytes.
                try buffer.withUnsafeReadableBytes { bytes in
                    try handleStream(UnsafeRawBufferPointer(rebasing: bytes[0..<header.payloadLength]), &receivedAt)
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
                break  // pong
            }
        }
    }

    /// One frame's payload: whole messages are handled where they lie; an unfinished one is kept.
    private func handleStream(_ bytes: UnsafeRawBufferPointer, _ receivedAt: inout UInt64) throws {
        guard var pending = partialMessage else {
            let used = try handleMessages(in: bytes, &receivedAt)
            if used < bytes.count, reading {
                partialMessage = ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[used...]))
            }
            return
        }
        partialMessage = nil  // so appending does not copy it
        pending.writeBytes(bytes)
        let used = try pending.withUnsafeReadableBytes { try handleMessages(in: $0, &receivedAt) }
        pending.moveReaderIndex(forwardBy: used)
        if pending.readableBytes > 0, reading { partialMessage = pending }
    }

    /// Handles every whole message in `bytes`; returns the bytes they took.
    private func handleMessages(in bytes: UnsafeRawBufferPointer, _ receivedAt: inout UInt64) throws -> Int {
        var offset = 0
        // The handshake response is JSON text whatever the protocol; what follows it is in the protocol.
        while reading,
            let (body, next) = try SignalRClientMessages.nextMessage(
                in: bytes, from: offset, encoding: state == .handshaking ? .json : encoding)
        {
            offset = next
            handleMessage(UnsafeRawBufferPointer(rebasing: bytes[body]), &receivedAt)
        }
        return offset
    }

    /// One hub message. Deliveries are the hot path: classified by a few bytes, scanned in place.
    private func handleMessage(_ bytes: UnsafeRawBufferPointer, _ receivedAt: inout UInt64) {
        guard state != .handshaking else { return handleHandshakeResponse(bytes) }
        switch SignalRClientMessages.classify(bytes, encoding: encoding) {
        case .invocation:
            guard let sentAt = BenchPayload.timestamp(in: bytes) else { return }  // Join, Leave
            if receivedAt == 0 { receivedAt = BenchClock.now() }
            role.deliveryReceived(sentAt: sentAt, receivedAt: receivedAt)
        case .completion(let error):
            if let error {
                role.errorReceived(self, message: "signalr: \(error)", answersRequest: true)
            } else {
                role.replyReceived(self)
            }
        case .close(let error):
            if let error { role.errorReceived(self, message: "signalr close: \(error)", answersRequest: false) }
            close()
        case .ping, .handshake, .other:
            break
        }
    }

    private func handleHandshakeResponse(_ bytes: UnsafeRawBufferPointer) {
        guard case .handshake(let error) = SignalRClientMessages.classifyHandshake(bytes), error == nil else {
            role.errorReceived(
                self, message: "signalr handshake: \(String(decoding: bytes, as: UTF8.self))", answersRequest: false)
            close()
            return
        }
        state = .open
        scheduleKeepAlive()
        role.linkReady(self)
    }

    // MARK: - Writing (BenchLink)

    private func sendUpgradeRequest(context: ChannelHandlerContext) {
        guard state == .awaitingUpgrade, context.channel.isActive else { return }
        let request = WebSocketUpgrade.request(pathAndQuery: target.path, target: target, subprotocol: nil)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func sendSubscribe(channel: String) {
        nextInvocationID += 1
        writeMessage(
            SignalRClientMessages.subscribe(channel: channel, invocationID: nextInvocationID, encoding: encoding),
            opcode: encoding.opcode)
        flush()
    }

    func writePublishes(count: Int, payloadSize: Int, now: UInt64, acknowledged: Bool) {
        guard state == .open, let context, count > 0 else { return }
        if payloadTemplate.count != max(payloadSize, BenchPayload.minimumSize) {
            payloadTemplate = BenchPayload.template(size: payloadSize)
            plainPublishPrefix = SignalRClientMessages.publishPrefix(
                channel: target.channel, invocationID: nil, payloadLength: payloadTemplate.count, encoding: encoding)
        }
        // As in WebSocketClientHandler: the fire-and-forget frame is built once per batch and copied; only
        // the acknowledged one (with an invocation id) differs.
        let plainCount = acknowledged ? count - 1 : count
        var plainFrame = ByteBuffer()
        if plainCount > 0 { writePublishFrame(prefix: plainPublishPrefix, now: now, into: &plainFrame) }
        var buffer = context.channel.allocator.buffer(capacity: count * (plainFrame.readableBytes + 16) + 64)
        for _ in 0..<plainCount { buffer.writeImmutableBuffer(plainFrame) }
        if acknowledged {
            nextInvocationID += 1
            let prefix = SignalRClientMessages.publishPrefix(
                channel: target.channel, invocationID: nextInvocationID, payloadLength: payloadTemplate.count,
                encoding: encoding)
            writePublishFrame(prefix: prefix, now: now, into: &buffer)
        }
        wroteSinceKeepAlive = true
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// Appends one masked frame holding one `Publish` invocation whose bytes start with `prefix`.
    private func writePublishFrame(prefix: [UInt8], now: UInt64, into buffer: inout ByteBuffer) {
        let length = prefix.count + payloadTemplate.count + publishSuffix.count
        WebSocketFrameParser.writeClientHeader(opcode: encoding.opcode, length: length, maskKey: maskKey, into: &buffer)
        let start = buffer.writerIndex - buffer.readerIndex
        buffer.writeBytes(prefix)
        buffer.writeBytes(payloadTemplate)
        buffer.writeBytes(publishSuffix)
        let digitsAt = start + prefix.count + BenchPayload.marker.count
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
        case .handshaking, .open:
            writeControl(opcode: 0x8, payload: [0x03, 0xE8])  // 1000 normal closure
            state = .closing
            keepAliveTask?.cancel()
            // If the server never completes the close handshake, don't hold the socket forever.
            context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { [weak self] in
                self?.context?.close(promise: nil)
            }
        case .closing, .closed:
            break
        }
    }

    // MARK: - Keep-alive

    private func scheduleKeepAlive() {
        guard let context else { return }
        keepAliveTask = context.eventLoop.assumeIsolated().scheduleTask(in: Self.keepAliveInterval) {
            [weak self] in
            self?.keepAliveFired()
        }
    }

    private func keepAliveFired() {
        guard state == .open else { return }
        if !wroteSinceKeepAlive {
            writeMessage(SignalRClientMessages.ping(encoding), opcode: encoding.opcode)
            flush()
        }
        wroteSinceKeepAlive = false
        scheduleKeepAlive()
    }

    // MARK: - Frames

    private func writeMessage(_ bytes: [UInt8], opcode: UInt8) {
        guard let context, state == .open || state == .handshaking else { return }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count + 14)
        WebSocketFrameParser.writeClientHeader(opcode: opcode, length: bytes.count, maskKey: maskKey, into: &buffer)
        let start = buffer.writerIndex - buffer.readerIndex
        buffer.writeBytes(bytes)
        buffer.withUnsafeMutableReadableBytes { raw in
            WebSocketFrameParser.mask(raw, offset: start, count: bytes.count, maskKey: maskKey)
        }
        wroteSinceKeepAlive = true
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
