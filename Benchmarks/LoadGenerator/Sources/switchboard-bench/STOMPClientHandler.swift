import NIOCore

/// A minimal STOMP 1.2 client for the load generator (Switchboard's STOMP frontend and RabbitMQ's
/// STOMP plugin).
///
/// Handshake: CONNECT (accept-version 1.2, host `/`, guest/guest, heart-beat 0,0, so idle connections
/// stay quiet) → CONNECTED; then the link is ready.
///
/// The scenario's channel names a destination: `/topic/<channel>` by default (every subscriber gets
/// every message), `/queue/<channel>` with `--stomp-destination queue` (subscribers share the queue).
/// Subscribing sends SUBSCRIBE with the ack mode, `prefetch-count` when asked and a `receipt`; the
/// RECEIPT confirms the subscription. Under `client-individual` every MESSAGE of a read is acknowledged
/// by its own ACK (its `ack` header sent back), under `client` one ACK of the read's last MESSAGE
/// covers them all; the ACKs of a read go out in one write. Publishes are SEND frames with
/// `content-length`; an acknowledged batch's last SEND carries a `receipt`, and the RECEIPT is the
/// batch's reply (RabbitMQ answers it once the message is confirmed, so it paces the publisher).
final class STOMPClientHandler: ChannelInboundHandler, BenchLink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection is in its life.
    private enum State {
        /// CONNECT sent; waiting for CONNECTED.
        case awaitingConnected
        /// Ready for SUBSCRIBE and SEND.
        case open
        /// Closed or closing.
        case closed
    }

    /// Where the subscription is.
    private enum Subscription {
        /// Not asked for.
        case none
        /// SUBSCRIBE sent; waiting for its RECEIPT.
        case subscribing
        /// The RECEIPT arrived: messages flow.
        case active
    }

    /// The subscription's id and the receipt id that confirms it (publish receipts are numbers).
    static let subscriptionID = "0"
    static let subscriptionReceipt = "subscribed"

    private let role: any BenchRole
    private let destination: String
    private let ackMode: STOMPAckMode
    private let prefetch: Int
    private var context: ChannelHandlerContext?
    private var cumulation = ReadCumulation()
    private var state = State.awaitingConnected
    private var subscription = Subscription.none
    private var connectSent = false
    private var needsFlush = false
    private var payloadTemplate: [UInt8] = []
    private var sendHead: [UInt8] = []
    /// Publish receipts asked for and not yet answered.
    private var awaitedReceipts = 0
    private var nextReceipt = 0
    /// `client-individual`: the ACK frames of the current read.
    private var pendingAcks: ByteBuffer?
    /// `client`: the `ack` header of the read's last MESSAGE (empty: nothing to acknowledge).
    private var lastAckID: [UInt8] = []

    init(target: BenchTarget, role: any BenchRole) {
        self.role = role
        self.destination = target.stompDestination.destination(for: target.channel)
        self.ackMode = target.stompAck
        self.prefetch = max(target.prefetch, 0)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendConnect(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendConnect(context)
        context.fireChannelActive()
    }

    private func sendConnect(_ context: ChannelHandlerContext) {
        guard !connectSent else { return }
        connectSent = true
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: STOMPClientFrame.connect())), promise: nil)
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
            let consumed = try buffer.withUnsafeReadableBytes { bytes -> Int in
                var offset = 0
                var receivedAt: UInt64 = 0
                while state != .closed {
                    let (start, parsed) = try STOMPClientFrame.parse(bytes, from: offset)
                    offset = start
                    guard let frame = parsed else { break }
                    offset = frame.end
                    if frame.command == .message {
                        if receivedAt == 0 { receivedAt = BenchClock.now() }
                        try handleMessage(bytes, frame, receivedAt: receivedAt)
                    } else {
                        try handleControlFrame(bytes, frame)
                    }
                }
                return offset
            }
            buffer.moveReaderIndex(forwardBy: consumed)
        } catch {
            role.errorReceived(self, message: "STOMP: \(error)", answersRequest: false)
            state = .closed
            context.close(promise: nil)
            return
        }
        cumulation.keep(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let acks = pendingAcks {
            pendingAcks = nil
            context.write(wrapOutboundOut(acks), promise: nil)
            needsFlush = true
        } else if !lastAckID.isEmpty {
            // `client`: one cumulative ACK for everything this read delivered.
            var ack = context.channel.allocator.buffer(capacity: lastAckID.count + 12)
            ack.writeBytes(STOMPClientFrame.ackHead)
            ack.writeBytes(lastAckID)
            ack.writeBytes(STOMPClientFrame.ackTail)
            lastAckID.removeAll(keepingCapacity: true)
            context.write(wrapOutboundOut(ack), promise: nil)
            needsFlush = true
        }
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    // MARK: - Frames

    private func handleMessage(_ bytes: UnsafeRawBufferPointer, _ frame: STOMPClientFrame.Parsed, receivedAt: UInt64)
        throws
    {
        if ackMode != .auto {
            // STOMP 1.2 "MESSAGE": with a client ack mode the server adds an `ack` header whose value
            // the ACK's `id` carries back.
            guard let ackID = STOMPClientFrame.header(STOMPClientFrame.ackName, in: bytes, frame.headers) else {
                throw STOMPClientError("MESSAGE without an ack header under ack:\(ackMode.rawValue)")
            }
            let value = UnsafeRawBufferPointer(rebasing: bytes[ackID])
            if ackMode == .client {
                lastAckID.removeAll(keepingCapacity: true)
                lastAckID.append(contentsOf: value)
            } else {
                if pendingAcks == nil, let context {
                    pendingAcks = context.channel.allocator.buffer(capacity: 1024)
                }
                pendingAcks?.writeBytes(STOMPClientFrame.ackHead)
                pendingAcks?.writeBytes(value)
                pendingAcks?.writeBytes(STOMPClientFrame.ackTail)
            }
        }
        if let sentAt = BenchPayload.timestamp(ofPayload: UnsafeRawBufferPointer(rebasing: bytes[frame.body])) {
            role.deliveryReceived(sentAt: sentAt, receivedAt: receivedAt)
        }
    }

    private func handleControlFrame(_ bytes: UnsafeRawBufferPointer, _ frame: STOMPClientFrame.Parsed) throws {
        func headerText(_ name: [UInt8]) -> String? {
            STOMPClientFrame.header(name, in: bytes, frame.headers).map {
                String(decoding: UnsafeRawBufferPointer(rebasing: bytes[$0]), as: UTF8.self)
            }
        }
        switch frame.command {
        case .connected:
            guard state == .awaitingConnected else { throw STOMPClientError("unexpected CONNECTED") }
            state = .open
            role.linkReady(self)
        case .receipt:
            let receipt = headerText(STOMPClientFrame.receiptIDName)
            if receipt == Self.subscriptionReceipt {
                guard subscription == .subscribing else { throw STOMPClientError("unexpected subscription RECEIPT") }
                subscription = .active
                role.replyReceived(self)
            } else if awaitedReceipts > 0 {
                awaitedReceipts -= 1
                role.replyReceived(self)
            }
        case .error:
            // The server closes the connection after an ERROR (STOMP 1.2 "ERROR"); one that answers a
            // publish receipt takes that reply's place.
            let receipt = headerText(STOMPClientFrame.receiptIDName)
            let answersPublish = receipt != nil && receipt != Self.subscriptionReceipt && awaitedReceipts > 0
            if answersPublish { awaitedReceipts -= 1 }
            let body = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[frame.body]), as: UTF8.self)
            role.errorReceived(
                self, message: "STOMP ERROR \(headerText(STOMPClientFrame.messageName) ?? ""): \(body.prefix(200))",
                answersRequest: answersPublish)
        case .message, .unknown:
            throw STOMPClientError("unexpected frame")
        }
    }

    // MARK: - BenchLink

    func sendSubscribe(channel: String) {
        guard state == .open, subscription == .none, let context else { return }
        let frame = STOMPClientFrame.subscribe(
            id: Self.subscriptionID, destination: destination, ack: ackMode, prefetch: prefetch,
            receipt: Self.subscriptionReceipt)
        subscription = .subscribing
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: frame)), promise: nil)
    }

    func writePublishes(count: Int, payloadSize: Int, now: UInt64, acknowledged: Bool) {
        guard state == .open, let context, count > 0 else { return }
        if payloadTemplate.count != BenchPayload.effectiveSize(payloadSize, compact: true) {
            payloadTemplate = BenchPayload.template(size: payloadSize, compact: true)
            sendHead = STOMPClientFrame.sendHead(destination: destination, contentLength: payloadTemplate.count)
        }
        // Every message of a batch carries the same timestamp: patch the template once, then copy.
        payloadTemplate.withUnsafeMutableBytes { BenchPayload.patch($0, value: now) }
        var buffer = context.channel.allocator.buffer(
            capacity: count * (sendHead.count + payloadTemplate.count + 1) + 24)
        for _ in 0..<(acknowledged ? count - 1 : count) {
            buffer.writeBytes(sendHead)
            buffer.writeBytes(payloadTemplate)
            buffer.writeInteger(UInt8(0))
        }
        if acknowledged {
            nextReceipt += 1
            awaitedReceipts += 1
            buffer.writeBytes(
                STOMPClientFrame.sendHead(
                    destination: destination, contentLength: payloadTemplate.count, receipt: String(nextReceipt)))
            buffer.writeBytes(payloadTemplate)
            buffer.writeInteger(UInt8(0))
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() { context?.flush() }

    func close() {
        guard state != .closed, let context else { return }
        state = .closed
        context.writeAndFlush(
            wrapOutboundOut(context.channel.allocator.buffer(bytes: STOMPClientFrame.disconnect)), promise: nil)
        context.close(promise: nil)
    }
}
