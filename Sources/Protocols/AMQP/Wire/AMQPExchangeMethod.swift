package import NIOCore

/// Class exchange (40), with RabbitMQ's exchange-to-exchange bind and unbind. The reserved ticket
/// (reserved-1, a short) is written 0 and ignored when read.
package enum AMQPExchangeMethod: Sendable, Hashable {
    /// 10.
    case declare(AMQPExchangeDeclare)
    /// 11.
    case declareOk
    /// 20.
    case delete(AMQPExchangeDelete)
    /// 21.
    case deleteOk
    /// 30 (RabbitMQ): bind destination exchange to source exchange.
    case bind(AMQPExchangeBind)
    /// 31 (RabbitMQ).
    case bindOk
    /// 40 (RabbitMQ): the same fields as bind.
    case unbind(AMQPExchangeBind)
    /// 51 (RabbitMQ; 51, not 41).
    case unbindOk

    package static let classID: UInt16 = 40

    package var methodID: UInt16 {
        switch self {
        case .declare: 10
        case .declareOk: 11
        case .delete: 20
        case .deleteOk: 21
        case .bind: 30
        case .bindOk: 31
        case .unbind: 40
        case .unbindOk: 51
        }
    }

    package static func read(methodID: UInt16, from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) -> Self {
        switch methodID {
        case 10: return .declare(try AMQPExchangeDeclare(from: &buffer, maxDepth: maxDepth))
        case 11: return .declareOk
        case 20: return .delete(try AMQPExchangeDelete(from: &buffer))
        case 21: return .deleteOk
        case 30: return .bind(try AMQPExchangeBind(from: &buffer, maxDepth: maxDepth))
        case 31: return .bindOk
        case 40: return .unbind(try AMQPExchangeBind(from: &buffer, maxDepth: maxDepth))
        case 51: return .unbindOk
        default: throw .unknownMethod(classID: Self.classID, methodID: methodID)
        }
    }

    package func writeArguments(to buffer: inout ByteBuffer) {
        switch self {
        case .declare(let declare): declare.write(to: &buffer)
        case .delete(let delete): delete.write(to: &buffer)
        case .bind(let bind), .unbind(let bind): bind.write(to: &buffer)
        case .declareOk, .deleteOk, .bindOk, .unbindOk: break
        }
    }
}
