package import NIOCore

/// Any MQTT control packet.
package enum MQTTPacket: Sendable, Hashable {
    /// Boxed: CONNECT is large and comes once, and every packet value would otherwise be its size
    /// (each PUBLISH moved through the decoder and the handler copied that many bytes).
    indirect case connect(MQTTConnectPacket)
    case connAck(MQTTConnAckPacket)
    case publish(MQTTPublishPacket)
    case ack(MQTTAckPacket)
    case subscribe(MQTTSubscribePacket)
    case subAck(MQTTSubAckPacket)
    case unsubscribe(MQTTUnsubscribePacket)
    case pingReq
    case pingResp
    case disconnect(MQTTDisconnectPacket)
    case auth(MQTTDisconnectPacket)

    package var type: MQTTPacketType {
        switch self {
        case .connect: .connect
        case .connAck: .connAck
        case .publish: .publish
        case .ack(let ack): ack.kind.packetType
        case .subscribe: .subscribe
        case .subAck(let ack): ack.kind == .subAck ? .subAck : .unsubAck
        case .unsubscribe: .unsubscribe
        case .pingReq: .pingReq
        case .pingResp: .pingResp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }

    private var flags: UInt8 {
        switch self {
        case .publish(let publish): publish.flags
        case .ack(let ack): ack.flags
        case .subscribe, .unsubscribe: 0x02
        default: 0
        }
    }

    /// Writes the whole packet. The body is written once after room for the largest fixed header, and
    /// the header is placed right before it; in a buffer that holds nothing else the unused room is
    /// skipped by the reader index, so nothing is copied. Returns the packet's size.
    @discardableResult
    package func write(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) -> Int {
        let start = buffer.writerIndex
        buffer.writeRepeatingByte(0, count: 5)  // room for the largest fixed header; grows the buffer if needed
        let bodyStart = buffer.writerIndex
        switch self {
        case .connect(let packet): packet.writeBody(to: &buffer)
        case .connAck(let packet): packet.writeBody(version: version, to: &buffer)
        case .publish(let packet): packet.writeBody(version: version, to: &buffer)
        case .ack(let packet): packet.writeBody(version: version, to: &buffer)
        case .subscribe(let packet): packet.writeBody(version: version, to: &buffer)
        case .subAck(let packet): packet.writeBody(version: version, to: &buffer)
        case .unsubscribe(let packet): packet.writeBody(version: version, to: &buffer)
        case .pingReq, .pingResp: break
        case .disconnect(let packet), .auth(let packet): packet.writeBody(version: version, to: &buffer)
        }
        let length = buffer.writerIndex - bodyStart
        let headerLength = 1 + ByteBuffer.mqttVariableByteIntegerLength(length)
        // The header goes right before the body: type and flags, then the remaining length.
        let headerStart = bodyStart - headerLength
        buffer.setInteger(type.rawValue << 4 | flags, at: headerStart)
        var remaining = length
        var index = headerStart + 1
        repeat {
            let byte = UInt8(remaining % 128)
            remaining /= 128
            buffer.setInteger(remaining > 0 ? byte | 0x80 : byte, at: index)
            index += 1
        } while remaining > 0
        if headerStart > start {
            if start == buffer.readerIndex {
                // A buffer holding only this packet: skip the unused header room, no copy.
                buffer.moveReaderIndex(to: headerStart)
            } else {
                // After other bytes: close the gap by moving the packet down.
                let packetBytes = buffer.getSlice(at: headerStart, length: headerLength + length)!
                buffer.moveWriterIndex(to: start)
                buffer.writeImmutableBuffer(packetBytes)
            }
        }
        return headerLength + length
    }

    /// The packet as a new buffer (tests, control packets).
    package func encoded(version: MQTTProtocolVersion, allocator: ByteBufferAllocator = ByteBufferAllocator())
        -> ByteBuffer
    {
        var buffer = allocator.buffer(capacity: 64)
        write(version: version, to: &buffer)
        return buffer
    }
}
