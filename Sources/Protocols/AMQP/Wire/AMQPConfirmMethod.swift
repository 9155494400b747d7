package import NIOCore

/// Class confirm (85, RabbitMQ): publisher confirms.
package enum AMQPConfirmMethod: Sendable, Hashable {
    /// 10: put the channel in confirm mode.
    case select(noWait: Bool)
    /// 11.
    case selectOk

    package static let classID: UInt16 = 85

    package var methodID: UInt16 {
        switch self {
        case .select: 10
        case .selectOk: 11
        }
    }

    package static func read(methodID: UInt16, from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) -> Self {
        switch methodID {
        case 10: return .select(noWait: try buffer.readAMQPOctet().amqpBit(0))
        case 11: return .selectOk
        default: throw .unknownMethod(classID: Self.classID, methodID: methodID)
        }
    }

    package func writeArguments(to buffer: inout ByteBuffer) {
        switch self {
        case .select(let noWait): buffer.writeAMQPBits(noWait)
        case .selectOk: break
        }
    }
}
