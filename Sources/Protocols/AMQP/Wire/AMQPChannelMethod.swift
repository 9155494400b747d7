package import NIOCore

/// Class channel (20). Reserved fields are written empty and ignored when read.
package enum AMQPChannelMethod: Sendable, Hashable {
    /// 10 (reserved-1: out-of-band, empty).
    case open
    /// 11 (reserved-1: channel-id, an empty long string).
    case openOk
    /// 20: ask the peer to stop (false) or resume (true) sending content.
    case flow(active: Bool)
    /// 21.
    case flowOk(active: Bool)
    /// 40: either peer closes the channel.
    case close(AMQPClose)
    /// 41.
    case closeOk

    package static let classID: UInt16 = 20

    package var methodID: UInt16 {
        switch self {
        case .open: 10
        case .openOk: 11
        case .flow: 20
        case .flowOk: 21
        case .close: 40
        case .closeOk: 41
        }
    }

    package static func read(methodID: UInt16, from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) -> Self {
        switch methodID {
        case 10:
            _ = try buffer.readAMQPShortString()
            return .open
        case 11:
            _ = try buffer.readAMQPLongString()
            return .openOk
        case 20: return .flow(active: try buffer.readAMQPOctet().amqpBit(0))
        case 21: return .flowOk(active: try buffer.readAMQPOctet().amqpBit(0))
        case 40: return .close(try AMQPClose(from: &buffer))
        case 41: return .closeOk
        default: throw .unknownMethod(classID: Self.classID, methodID: methodID)
        }
    }

    package func writeArguments(to buffer: inout ByteBuffer) {
        switch self {
        case .open: buffer.writeAMQPShortString("")
        case .openOk: buffer.writeInteger(UInt32(0))
        case .flow(let active), .flowOk(let active): buffer.writeAMQPBits(active)
        case .close(let close): close.write(to: &buffer)
        case .closeOk: break
        }
    }
}
