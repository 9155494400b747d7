import Atomics
import Foundation
import NIOCore

/// A minimal MQTT 3.1.1 client for the load generator (Switchboard's MQTT frontend and mosquitto).
///
/// CONNECT on connect; CONNACK makes the link ready. SUBSCRIBE is confirmed by SUBACK. Publishes use
/// the target's QoS (0 or 1): an acknowledged QoS 0 batch ends with PINGREQ (PINGRESP is the reply, as
/// NATS's PING/PONG), an acknowledged QoS 1 batch is confirmed by the PUBACK of its last message.
/// Received QoS 1 messages are PUBACKed; payloads carrying a benchmark timestamp are deliveries.
final class MQTTClientHandler: ChannelInboundHandler, BenchLink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Largest packet accepted from the server (bounds the cumulation).
    static let maximumPacketBytes = 1 << 20
    private static let clientCounter = ClientCounter()

    private let role: any BenchRole
    private let qos: UInt8
    private let topic: String
    private let persistent: Bool
    private var context: ChannelHandlerContext?
    private var cumulation = ReadCumulation()
    private var open = false
    private var nextPacketID: UInt16 = 0
    /// Packet ids whose PUBACK is a reply the scenario waits for.
    private var awaitedAcks: Set<UInt16> = []
    private var payloadTemplate: [UInt8] = []
    private var needsFlush = false

    init(target: BenchTarget, role: any BenchRole) {
        self.role = role
        self.qos = UInt8(min(max(target.qos, 0), 1))
        self.topic = target.channel
        self.persistent = target.persistent
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendConnect(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendConnect(context)
        context.fireChannelActive()
    }

    private var connectSent = false

    private func sendConnect(_ context: ChannelHandlerContext) {
        guard !connectSent else { return }
        connectSent = true
        let clientID = "bench-\(Self.clientCounter.next())"
        var body = context.channel.allocator.buffer(capacity: 32)
        body.writeMQTTString("MQTT")
        body.writeInteger(UInt8(4))  // 3.1.1
        body.writeInteger(UInt8(persistent ? 0x00 : 0x02))  // clean session, unless persistent
        body.writeInteger(UInt16(0))  // no keep-alive: idle connections stay quiet (conns)
        body.writeMQTTString(clientID)
        writePacket(0x10, body)
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        open = false
        self.context = nil
        role.linkClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        role.errorReceived(self, message: "\(error)", answersRequest: false)
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        cumulation.prepend(to: &buffer, allocator: context.channel.allocator)
        while let (first, body) = Self.nextPacket(&buffer) {
            handle(first, body)
        }
        if buffer.readableBytes > Self.maximumPacketBytes {
            role.errorReceived(self, message: "MQTT packet too large", answersRequest: false)
            context.close(promise: nil)
            return
        }
        cumulation.keep(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// Splits off one whole packet (first byte, body slice), or nil when more bytes are needed.
    static func nextPacket(_ buffer: inout ByteBuffer) -> (UInt8, ByteBuffer)? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        var length = 0
        var multiplier = 1
        var index = 1
        while true {
            guard index <= 4, let byte = buffer.getInteger(at: start + index, as: UInt8.self) else { return nil }
            length += Int(byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if byte & 0x80 == 0 { break }
        }
        guard buffer.readableBytes >= index + length else { return nil }
        buffer.moveReaderIndex(forwardBy: index)
        return (first, buffer.readSlice(length: length)!)
    }

    private func handle(_ first: UInt8, _ body: ByteBuffer) {
        var body = body
        switch first >> 4 {
        case 2:  // CONNACK
            let code = body.getInteger(at: body.readerIndex + 1, as: UInt8.self) ?? 0xFF
            guard code == 0 else {
                role.errorReceived(self, message: "CONNACK return code \(code)", answersRequest: false)
                return
            }
            open = true
            role.linkReady(self)
        case 3:  // PUBLISH
            let packetQoS = (first >> 1) & 0x03
            guard let topicLength = body.readInteger(as: UInt16.self) else { return }
            body.moveReaderIndex(forwardBy: Int(topicLength))
            if packetQoS > 0, let id = body.readInteger(as: UInt16.self) {
                var ack = ByteBuffer()
                ack.writeInteger(id)
                writePacket(0x40, ack)
                needsFlush = true
            }
            if let sentAt = body.withUnsafeReadableBytes({ BenchPayload.timestamp(in: $0) }) {
                role.deliveryReceived(sentAt: sentAt, receivedAt: BenchClock.now())
            }
        case 4:  // PUBACK
            if let id = body.readInteger(as: UInt16.self), awaitedAcks.remove(id) != nil { role.replyReceived(self) }
        case 9:  // SUBACK
            role.replyReceived(self)
        case 13:  // PINGRESP
            role.replyReceived(self)
        case 14:  // DISCONNECT (5.0 servers only)
            role.errorReceived(self, message: "server sent DISCONNECT", answersRequest: false)
        default:
            break
        }
    }

    // MARK: - BenchLink

    func sendSubscribe(channel: String) {
        guard let context else { return }
        var body = context.channel.allocator.buffer(capacity: channel.utf8.count + 8)
        body.writeInteger(packetID())
        body.writeMQTTString(channel)
        body.writeInteger(qos)
        writePacket(0x82, body)
        context.flush()
    }

    func writePublishes(count: Int, payloadSize: Int, now: UInt64, acknowledged: Bool) {
        guard open, let context, count > 0 else { return }
        if payloadTemplate.count != max(payloadSize, BenchPayload.minimumSize) {
            payloadTemplate = BenchPayload.template(size: payloadSize)
        }
        payloadTemplate.withUnsafeMutableBytes { bytes in
            BenchPayload.patchDigits(bytes, at: BenchPayload.marker.count, value: now)
        }
        let remaining = 2 + topic.utf8.count + (qos > 0 ? 2 : 0) + payloadTemplate.count
        var buffer = context.channel.allocator.buffer(capacity: count * (remaining + 5) + 2)
        var lastID: UInt16 = 0
        for _ in 0..<count {
            buffer.writeInteger(UInt8(0x30 | (qos << 1)))
            buffer.writeMQTTVariableByteInteger(remaining)
            buffer.writeMQTTString(topic)
            if qos > 0 {
                lastID = packetID()
                buffer.writeInteger(lastID)
            }
            buffer.writeBytes(payloadTemplate)
        }
        if acknowledged {
            if qos > 0 {
                awaitedAcks.insert(lastID)
            } else {
                buffer.writeInteger(UInt16(0xC000))  // PINGREQ
            }
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() { context?.flush() }

    func close() {
        open = false
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: [0xE0, 0x00])), promise: nil)
        context.close(promise: nil)
    }

    private func packetID() -> UInt16 {
        nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
        return nextPacketID
    }

    private func writePacket(_ first: UInt8, _ body: ByteBuffer) {
        guard let context else { return }
        var packet = context.channel.allocator.buffer(capacity: body.readableBytes + 5)
        packet.writeInteger(first)
        packet.writeMQTTVariableByteInteger(body.readableBytes)
        packet.writeImmutableBuffer(body)
        context.write(wrapOutboundOut(packet), promise: nil)
    }
}

extension ByteBuffer {
    fileprivate mutating func writeMQTTString(_ string: String) {
        writeInteger(UInt16(string.utf8.count))
        writeString(string)
    }

    fileprivate mutating func writeMQTTVariableByteInteger(_ value: Int) {
        var remaining = value
        repeat {
            var byte = UInt8(remaining % 128)
            remaining /= 128
            if remaining > 0 { byte |= 0x80 }
            writeInteger(byte)
        } while remaining > 0
    }
}

/// Unique client ids across the tool's loops and processes (MQTT takes over a session with a repeated id).
final class ClientCounter: Sendable {
    private let value = ManagedAtomic<Int>(0)
    func next() -> String { "\(getpid())-\(value.wrappingIncrementThenLoad(ordering: .relaxed))" }
}
