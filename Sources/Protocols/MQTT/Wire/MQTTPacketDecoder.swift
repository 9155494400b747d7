package import NIOCore

/// Splits a byte stream into packets. `decode` returns nil when the buffer does not yet hold a whole
/// packet (leaving the reader index where it was), and throws only for malformed input or a limit breach.
package enum MQTTPacketDecoder {
    /// Decodes one packet. `version` is nil until CONNECT has been read: then only CONNECT is accepted
    /// ([MQTT-3.1.0-1]) and the packet's own protocol level applies.
    package static func decode(_ buffer: inout ByteBuffer, version: MQTTProtocolVersion?, limits: MQTTLimits)
        throws(MQTTError) -> MQTTPacket?
    {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        let length: Int
        let lengthBytes: Int
        switch buffer.peekMQTTVariableByteInteger(at: 1) {
        case .needMore: return nil
        case .malformed: throw .malformedPacket("remaining length longer than four bytes")
        case .value(let value, let count):
            length = value
            lengthBytes = count
        }
        let total = 1 + lengthBytes + length
        // Checked before waiting for (and buffering) the body: the server's Maximum Packet Size (MQTT 5.0
        // §3.2.2.3.6; [MQTT-3.2.2-15] binds the client to it).
        guard total <= limits.maxPacketSize else { throw .packetTooLarge(total) }
        guard buffer.readableBytes >= total else { return nil }
        guard let type = MQTTPacketType(rawValue: first >> 4) else {
            buffer.moveReaderIndex(forwardBy: total)
            throw .malformedPacket("reserved packet type 0")
        }
        buffer.moveReaderIndex(forwardBy: 1 + lengthBytes)
        var body = buffer.readSlice(length: length)!
        let flags = first & 0x0F
        guard let version else {
            guard type == .connect else { throw .protocolError("the first packet must be CONNECT") }
            return .connect(try MQTTConnectPacket.read(flags: flags, from: &body, limits: limits))
        }
        return try read(type, version: version, flags: flags, body: &body, limits: limits)
    }

    private static func read(
        _ type: MQTTPacketType, version: MQTTProtocolVersion, flags: UInt8, body: inout ByteBuffer, limits: MQTTLimits
    ) throws(MQTTError) -> MQTTPacket {
        switch type {
        case .connect:
            return .connect(try MQTTConnectPacket.read(flags: flags, from: &body, limits: limits))
        case .connAck:
            return .connAck(try MQTTConnAckPacket.read(version: version, flags: flags, from: &body, limits: limits))
        case .publish:
            return .publish(try MQTTPublishPacket.read(version: version, flags: flags, from: &body, limits: limits))
        case .pubAck, .pubRec, .pubRel, .pubComp:
            let kind: MQTTAckPacket.Kind =
                switch type {
                case .pubAck: .pubAck
                case .pubRec: .pubRec
                case .pubRel: .pubRel
                default: .pubComp
                }
            return .ack(try MQTTAckPacket.read(kind, version: version, flags: flags, from: &body, limits: limits))
        case .subscribe:
            return .subscribe(try MQTTSubscribePacket.read(version: version, flags: flags, from: &body, limits: limits))
        case .subAck, .unsubAck:
            return .subAck(
                try MQTTSubAckPacket.read(
                    type == .subAck ? .subAck : .unsubAck, version: version, flags: flags, from: &body, limits: limits))
        case .unsubscribe:
            return .unsubscribe(
                try MQTTUnsubscribePacket.read(version: version, flags: flags, from: &body, limits: limits))
        case .pingReq, .pingResp:
            guard flags == 0, body.readableBytes == 0 else { throw .malformedPacket("PING packets are empty") }
            return type == .pingReq ? .pingReq : .pingResp
        case .disconnect:
            return .disconnect(
                try MQTTDisconnectPacket.read(
                    version: version, flags: flags, from: &body, limits: limits, isAuth: false))
        case .auth:
            return .auth(
                try MQTTDisconnectPacket.read(version: version, flags: flags, from: &body, limits: limits, isAuth: true)
            )
        }
    }
}
