import NIOCore

/// A minimal AMQP 0-9-1 client for the load generator (Switchboard's AMQP frontend and RabbitMQ).
///
/// Handshake: protocol header → connection.start / start-ok (PLAIN guest/guest) → tune / tune-ok (the
/// server's channel-max and frame-max, no heartbeats, so idle connections stay quiet) → connection.open
/// → channel.open on channel 1 → with `confirms`, confirm.select; then the link is ready.
///
/// The scenario's channel is a queue. Subscribing declares it (durable when `persistent`), sets the
/// prefetch with basic.qos when asked, and starts a consumer (no-ack with `autoAck`); consume-ok is the
/// reply. A manual-ack consumer acknowledges everything a read delivered with one basic.ack (multiple).
/// Publishes go to the default exchange with the queue as routing key (delivery-mode 2 when
/// `persistent`). An acknowledged batch is confirmed by the server's basic.ack covering its last
/// message (publisher confirms) or, without confirms, by a basic.qos round trip (the server answers
/// after it has routed the publishes before it, as NATS's PING/PONG).
final class AMQPClientHandler: ChannelInboundHandler, BenchLink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection is in its life.
    private enum State {
        /// Protocol header sent; waiting for connection.start.
        case awaitingStart
        /// start-ok sent; waiting for connection.tune.
        case awaitingTune
        /// tune-ok and connection.open sent; waiting for open-ok.
        case awaitingOpen
        /// channel.open sent; waiting for its open-ok.
        case awaitingChannel
        /// confirm.select sent; waiting for select-ok.
        case awaitingConfirmSelect
        /// Ready for publishing and consuming.
        case open
        /// Closed or closing.
        case closed
    }

    /// Where a subscription is.
    private enum Subscription {
        /// Not asked for.
        case none
        /// queue.declare sent.
        case declaring
        /// basic.qos sent (prefetch).
        case settingPrefetch
        /// basic.consume sent.
        case consuming
        /// consume-ok received: deliveries flow.
        case active
    }

    /// A delivery whose content is still arriving (method, then header, then body frames).
    private struct Incoming {
        var deliveryTag: UInt64
        var headerReceived = false
        var remaining = 0
        var body: ByteBuffer?
    }

    /// The one channel the client uses.
    static let channelNumber: UInt16 = 1

    private let role: any BenchRole
    private let queue: String
    private let persistent: Bool
    private let prefetch: Int
    private let autoAck: Bool
    private let confirms: Bool
    private var context: ChannelHandlerContext?
    private var cumulation = ReadCumulation()
    private var state = State.awaitingStart
    private var subscription = Subscription.none
    private var frameMax = AMQPClientFrame.defaultFrameMax
    private var headerSent = false
    private var needsFlush = false
    private var payloadTemplate: [UInt8] = []
    /// Messages published on the channel; with confirms the n-th one has delivery tag n.
    private var published: UInt64 = 0
    /// Delivery tags whose confirm answers a batch, ascending.
    private var awaitedConfirms: [UInt64] = []
    /// basic.qos round trips asked for by acknowledged batches (without confirms).
    private var pendingPings = 0
    private var incoming: Incoming?
    /// The highest delivery tag received and not yet acknowledged (manual acks), 0 = none.
    private var unacknowledgedTag: UInt64 = 0

    init(target: BenchTarget, role: any BenchRole) {
        self.role = role
        self.queue = target.channel
        self.persistent = target.persistent
        self.prefetch = min(max(target.prefetch, 0), Int(UInt16.max))
        self.autoAck = target.autoAck
        self.confirms = target.confirms
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendProtocolHeader(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendProtocolHeader(context)
        context.fireChannelActive()
    }

    private func sendProtocolHeader(_ context: ChannelHandlerContext) {
        guard !headerSent else { return }
        headerSent = true
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: AMQPClientFrame.protocolHeader)), promise: nil)
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
            while state != .closed,
                let (type, channel, payload) = try AMQPClientFrame.nextFrame(
                    &buffer, limit: frameMax + AMQPClientFrame.overhead)
            {
                try handleFrame(type: type, channel: channel, payload: payload)
            }
        } catch {
            role.errorReceived(self, message: "AMQP: \(error)", answersRequest: false)
            state = .closed
            context.close(promise: nil)
            return
        }
        cumulation.keep(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if unacknowledgedTag != 0 {
            // One acknowledgement for everything this read delivered.
            var ack = context.channel.allocator.buffer(capacity: 21)
            ack.writeAMQPMethod(channel: Self.channelNumber, classID: 60, methodID: 80) {
                $0.writeInteger(self.unacknowledgedTag)
                $0.writeInteger(UInt8(1))  // multiple
            }
            unacknowledgedTag = 0
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

    private func handleFrame(type: UInt8, channel: UInt16, payload: ByteBuffer) throws {
        switch type {
        case AMQPClientFrame.methodType:
            var payload = payload
            guard let classID = payload.readInteger(as: UInt16.self),
                let methodID = payload.readInteger(as: UInt16.self)
            else { throw AMQPClientError("short method frame") }
            try handleMethod(AMQPClientFrame.methodKey(classID, methodID), &payload)
        case AMQPClientFrame.headerType:
            guard var delivery = incoming, !delivery.headerReceived else {
                throw AMQPClientError("unexpected content header")
            }
            guard let size = payload.getInteger(at: payload.readerIndex + 4, as: UInt64.self) else {
                throw AMQPClientError("short content header")
            }
            delivery.headerReceived = true
            delivery.remaining = Int(clamping: size)
            incoming = delivery
            if size == 0 { finishDelivery(body: ByteBuffer()) }
        case AMQPClientFrame.bodyType:
            guard var delivery = incoming, delivery.headerReceived, payload.readableBytes <= delivery.remaining else {
                throw AMQPClientError("unexpected content body")
            }
            delivery.remaining -= payload.readableBytes
            if delivery.remaining == 0 && delivery.body == nil {
                finishDelivery(body: payload)  // the usual case: the whole body in one frame
            } else {
                var body = delivery.body ?? ByteBuffer()
                body.writeImmutableBuffer(payload)
                delivery.body = body
                incoming = delivery
                if delivery.remaining == 0 { finishDelivery(body: body) }
            }
        case AMQPClientFrame.heartbeatType:
            break
        default:
            throw AMQPClientError("unknown frame type \(type)")
        }
    }

    private func finishDelivery(body: ByteBuffer) {
        guard let delivery = incoming else { return }
        incoming = nil
        if !autoAck { unacknowledgedTag = delivery.deliveryTag }
        if let sentAt = body.withUnsafeReadableBytes({ BenchPayload.timestamp(ofPayload: $0) }) {
            role.deliveryReceived(sentAt: sentAt, receivedAt: BenchClock.now())
        }
    }

    private func handleMethod(_ key: UInt32, _ arguments: inout ByteBuffer) throws {
        switch key {
        case AMQPClientFrame.methodKey(60, 60):  // basic.deliver
            _ = arguments.readAMQPShortString()  // consumer tag
            guard let tag = arguments.readInteger(as: UInt64.self) else { throw AMQPClientError("short basic.deliver") }
            incoming = Incoming(deliveryTag: tag)
        case AMQPClientFrame.methodKey(60, 80), AMQPClientFrame.methodKey(60, 120):  // basic.ack / nack (confirms)
            guard let tag = arguments.readInteger(as: UInt64.self), let bits = arguments.readInteger(as: UInt8.self)
            else { throw AMQPClientError("short basic.ack") }
            settleConfirms(tag: tag, multiple: bits & 1 != 0, acknowledged: key == AMQPClientFrame.methodKey(60, 80))
        case AMQPClientFrame.methodKey(60, 11):  // basic.qos-ok
            if subscription == .settingPrefetch {
                sendConsume()
            } else if pendingPings > 0 {
                pendingPings -= 1
                role.replyReceived(self)
            }
        case AMQPClientFrame.methodKey(10, 10):  // connection.start
            guard state == .awaitingStart else { throw AMQPClientError("unexpected connection.start") }
            writeMethod(channel: 0, 10, 11) {
                $0.writeAMQPStringTable([("product", "switchboard-bench")])
                $0.writeAMQPShortString("PLAIN")
                $0.writeAMQPLongString(Array("\u{0}guest\u{0}guest".utf8))
                $0.writeAMQPShortString("en_US")
            }
            state = .awaitingTune
        case AMQPClientFrame.methodKey(10, 30):  // connection.tune
            guard state == .awaitingTune, let channelMax = arguments.readInteger(as: UInt16.self),
                let proposedFrameMax = arguments.readInteger(as: UInt32.self)
            else { throw AMQPClientError("unexpected connection.tune") }
            // Take the server's limits (0 = unlimited: use the usual default); no heartbeats.
            frameMax = proposedFrameMax == 0 ? AMQPClientFrame.defaultFrameMax : Int(proposedFrameMax)
            guard frameMax >= AMQPClientFrame.minimumFrameMax else { throw AMQPClientError("frame-max \(frameMax)") }
            writeMethod(channel: 0, 10, 31) {
                $0.writeInteger(channelMax)
                $0.writeInteger(UInt32(self.frameMax))
                $0.writeInteger(UInt16(0))
            }
            writeMethod(channel: 0, 10, 40) {
                $0.writeAMQPShortString("/")
                $0.writeAMQPShortString("")  // reserved
                $0.writeInteger(UInt8(0))  // reserved (insist)
            }
            state = .awaitingOpen
        case AMQPClientFrame.methodKey(10, 41):  // connection.open-ok
            guard state == .awaitingOpen else { throw AMQPClientError("unexpected connection.open-ok") }
            writeMethod(channel: Self.channelNumber, 20, 10) { $0.writeAMQPShortString("") }
            state = .awaitingChannel
        case AMQPClientFrame.methodKey(20, 11):  // channel.open-ok
            guard state == .awaitingChannel else { throw AMQPClientError("unexpected channel.open-ok") }
            if confirms {
                writeMethod(channel: Self.channelNumber, 85, 10) { $0.writeInteger(UInt8(0)) }  // no-wait off
                state = .awaitingConfirmSelect
            } else {
                becomeOpen()
            }
        case AMQPClientFrame.methodKey(85, 11):  // confirm.select-ok
            guard state == .awaitingConfirmSelect else { throw AMQPClientError("unexpected confirm.select-ok") }
            becomeOpen()
        case AMQPClientFrame.methodKey(50, 11):  // queue.declare-ok
            guard subscription == .declaring else { throw AMQPClientError("unexpected queue.declare-ok") }
            if prefetch > 0 {
                writeMethod(channel: Self.channelNumber, 60, 10) {
                    $0.writeInteger(UInt32(0))  // prefetch-size: none
                    $0.writeInteger(UInt16(self.prefetch))
                    $0.writeInteger(UInt8(0))  // global off: per consumer
                }
                subscription = .settingPrefetch
            } else {
                sendConsume()
            }
        case AMQPClientFrame.methodKey(60, 21):  // basic.consume-ok
            guard subscription == .consuming else { throw AMQPClientError("unexpected basic.consume-ok") }
            subscription = .active
            role.replyReceived(self)
        case AMQPClientFrame.methodKey(10, 50), AMQPClientFrame.methodKey(20, 40):  // connection.close / channel.close
            let code = arguments.readInteger(as: UInt16.self) ?? 0
            let text = arguments.readAMQPShortString() ?? ""
            let isConnection = key == AMQPClientFrame.methodKey(10, 50)
            role.errorReceived(
                self, message: "server \(isConnection ? "connection" : "channel").close \(code) \(text)",
                answersRequest: false)
            if isConnection {
                writeMethod(channel: 0, 10, 51)
                state = .closed
                context?.flush()
                context?.close(promise: nil)
            } else {
                writeMethod(channel: Self.channelNumber, 20, 41)
                close()
            }
        case AMQPClientFrame.methodKey(10, 51):  // connection.close-ok
            state = .closed
            context?.close(promise: nil)
        case AMQPClientFrame.methodKey(10, 60):  // connection.blocked: a resource alarm; the run is not valid
            role.errorReceived(self, message: "server sent connection.blocked", answersRequest: false)
        case AMQPClientFrame.methodKey(60, 30):  // basic.cancel from the server
            role.errorReceived(self, message: "server cancelled the consumer", answersRequest: false)
        case AMQPClientFrame.methodKey(10, 61), AMQPClientFrame.methodKey(20, 21):  // unblocked, flow-ok
            break
        default:
            throw AMQPClientError("unexpected method \(key >> 16).\(key & 0xFFFF)")
        }
    }

    private func becomeOpen() {
        state = .open
        role.linkReady(self)
    }

    private func sendConsume() {
        writeMethod(channel: Self.channelNumber, 60, 20) {
            $0.writeInteger(UInt16(0))  // reserved
            $0.writeAMQPShortString(self.queue)
            $0.writeAMQPShortString("")  // consumer tag: the server's choice
            $0.writeInteger(UInt8(self.autoAck ? 0x02 : 0x00))  // no-local, no-ack, exclusive, no-wait
            $0.writeInteger(UInt32(0))  // arguments
        }
        subscription = .consuming
    }

    /// Answers the batches a confirm covers (`multiple`: every tag up to `tag`).
    private func settleConfirms(tag: UInt64, multiple: Bool, acknowledged: Bool) {
        var answered = 0
        if multiple {
            while let first = awaitedConfirms.first, first <= tag {
                awaitedConfirms.removeFirst()
                answered += 1
            }
        } else if let index = awaitedConfirms.firstIndex(of: tag) {
            awaitedConfirms.remove(at: index)
            answered = 1
        }
        for _ in 0..<answered {
            if acknowledged {
                role.replyReceived(self)
            } else {
                role.errorReceived(self, message: "server nacked a published message", answersRequest: true)
            }
        }
    }

    private func writeMethod(
        channel: UInt16, _ classID: UInt16, _ methodID: UInt16, _ arguments: (inout ByteBuffer) -> Void = { _ in }
    ) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        buffer.writeAMQPMethod(channel: channel, classID: classID, methodID: methodID, arguments)
        context.write(wrapOutboundOut(buffer), promise: nil)
        needsFlush = true
    }

    // MARK: - BenchLink

    func sendSubscribe(channel: String) {
        guard state == .open, subscription == .none, let context else { return }
        writeMethod(channel: Self.channelNumber, 50, 10) {
            $0.writeInteger(UInt16(0))  // reserved
            $0.writeAMQPShortString(channel)
            $0.writeInteger(UInt8(self.persistent ? 0x02 : 0x00))  // passive, durable, exclusive, auto-delete, no-wait
            $0.writeInteger(UInt32(0))  // arguments
        }
        subscription = .declaring
        needsFlush = false
        context.flush()
    }

    func writePublishes(count: Int, payloadSize: Int, now: UInt64, acknowledged: Bool) {
        guard state == .open, let context, count > 0 else { return }
        if payloadTemplate.count != BenchPayload.effectiveSize(payloadSize, compact: true) {
            payloadTemplate = BenchPayload.template(size: payloadSize, compact: true)
        }
        payloadTemplate.withUnsafeMutableBytes { BenchPayload.patch($0, value: now) }
        let message = AMQPClientFrame.publishFrames(
            channel: Self.channelNumber, routingKey: queue, persistent: persistent, body: payloadTemplate,
            frameMax: frameMax)
        var buffer = context.channel.allocator.buffer(capacity: message.count * count + 24)
        for _ in 0..<count { buffer.writeBytes(message) }
        published += UInt64(count)
        if acknowledged {
            if confirms {
                awaitedConfirms.append(published)
            } else {
                buffer.writeAMQPMethod(channel: Self.channelNumber, classID: 60, methodID: 10) {
                    $0.writeInteger(UInt32(0))
                    $0.writeInteger(UInt16(0))
                    $0.writeInteger(UInt8(0))
                }
                pendingPings += 1
            }
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() { context?.flush() }

    func close() {
        guard state != .closed, let context else { return }
        state = .closed
        var buffer = context.channel.allocator.buffer(capacity: 32)
        buffer.writeAMQPMethod(channel: 0, classID: 10, methodID: 50) {
            $0.writeInteger(UInt16(200))
            $0.writeAMQPShortString("bye")
            $0.writeInteger(UInt32(0))  // class and method ids
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        context.close(promise: nil)
    }
}
