package import NIOCore

/// Class queue (50). The reserved ticket is written 0 and ignored when read.
package enum AMQPQueueMethod: Sendable, Hashable {
    /// 10.
    case declare(AMQPQueueDeclare)
    /// 11.
    case declareOk(AMQPQueueDeclareOk)
    /// 20.
    case bind(AMQPQueueBind)
    /// 21.
    case bindOk
    /// 30.
    case purge(queue: String, noWait: Bool)
    /// 31.
    case purgeOk(messageCount: UInt32)
    /// 40.
    case delete(AMQPQueueDelete)
    /// 41.
    case deleteOk(messageCount: UInt32)
    /// 50 (no no-wait bit, unlike bind).
    case unbind(AMQPQueueUnbind)
    /// 51.
    case unbindOk

    package static let classID: UInt16 = 50

    package var methodID: UInt16 {
        switch self {
        case .declare: 10
        case .declareOk: 11
        case .bind: 20
        case .bindOk: 21
        case .purge: 30
        case .purgeOk: 31
        case .delete: 40
        case .deleteOk: 41
        case .unbind: 50
        case .unbindOk: 51
        }
    }

    package static func read(methodID: UInt16, from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) -> Self {
        switch methodID {
        case 10: return .declare(try AMQPQueueDeclare(from: &buffer, maxDepth: maxDepth))
        case 11: return .declareOk(try AMQPQueueDeclareOk(from: &buffer))
        case 20: return .bind(try AMQPQueueBind(from: &buffer, maxDepth: maxDepth))
        case 21: return .bindOk
        case 30:
            _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
            let queue = try buffer.readAMQPShortString()
            return .purge(queue: queue, noWait: try buffer.readAMQPOctet().amqpBit(0))
        case 31: return .purgeOk(messageCount: try buffer.readAMQPLong())
        case 40: return .delete(try AMQPQueueDelete(from: &buffer))
        case 41: return .deleteOk(messageCount: try buffer.readAMQPLong())
        case 50: return .unbind(try AMQPQueueUnbind(from: &buffer, maxDepth: maxDepth))
        case 51: return .unbindOk
        default: throw .unknownMethod(classID: Self.classID, methodID: methodID)
        }
    }

    package func writeArguments(to buffer: inout ByteBuffer) {
        switch self {
        case .declare(let declare): declare.write(to: &buffer)
        case .declareOk(let declareOk): declareOk.write(to: &buffer)
        case .bind(let bind): bind.write(to: &buffer)
        case .purge(let queue, let noWait):
            buffer.writeInteger(UInt16(0))
            buffer.writeAMQPShortString(queue)
            buffer.writeAMQPBits(noWait)
        case .purgeOk(let count), .deleteOk(let count): buffer.writeInteger(count)
        case .delete(let delete): delete.write(to: &buffer)
        case .unbind(let unbind): unbind.write(to: &buffer)
        case .bindOk, .unbindOk: break
        }
    }
}
