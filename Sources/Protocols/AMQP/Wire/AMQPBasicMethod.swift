package import NIOCore

/// Class basic (60), with RabbitMQ's nack and server-sent cancel. The reserved ticket is written 0 and
/// ignored when read.
package enum AMQPBasicMethod: Sendable, Hashable {
    /// 10.
    case qos(AMQPBasicQos)
    /// 11.
    case qosOk
    /// 20.
    case consume(AMQPBasicConsume)
    /// 21.
    case consumeOk(consumerTag: String)
    /// 30: from the client, or from the server when the queue goes away (RabbitMQ
    /// `consumer_cancel_notify`).
    case cancel(consumerTag: String, noWait: Bool)
    /// 31.
    case cancelOk(consumerTag: String)
    /// 40: followed by content.
    case publish(AMQPBasicPublish)
    /// 50: an unroutable mandatory message, followed by content.
    case `return`(AMQPBasicReturn)
    /// 60: a message for a consumer, followed by content.
    case deliver(AMQPBasicDeliver)
    /// 70.
    case get(queue: String, noAck: Bool)
    /// 71: followed by content.
    case getOk(AMQPBasicGetOk)
    /// 72 (reserved-1: cluster-id, empty).
    case getEmpty
    /// 80.
    case ack(deliveryTag: UInt64, multiple: Bool)
    /// 90.
    case reject(deliveryTag: UInt64, requeue: Bool)
    /// 100 (deprecated in the spec, still sent by old clients).
    case recoverAsync(requeue: Bool)
    /// 110.
    case recover(requeue: Bool)
    /// 111.
    case recoverOk
    /// 120 (RabbitMQ): reject one or, with `multiple`, every message up to the tag.
    case nack(deliveryTag: UInt64, multiple: Bool, requeue: Bool)

    package static let classID: UInt16 = 60

    package var methodID: UInt16 {
        switch self {
        case .qos: 10
        case .qosOk: 11
        case .consume: 20
        case .consumeOk: 21
        case .cancel: 30
        case .cancelOk: 31
        case .publish: 40
        case .return: 50
        case .deliver: 60
        case .get: 70
        case .getOk: 71
        case .getEmpty: 72
        case .ack: 80
        case .reject: 90
        case .recoverAsync: 100
        case .recover: 110
        case .recoverOk: 111
        case .nack: 120
        }
    }

    package static func read(methodID: UInt16, from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) -> Self {
        switch methodID {
        case 10: return .qos(try AMQPBasicQos(from: &buffer))
        case 11: return .qosOk
        case 20: return .consume(try AMQPBasicConsume(from: &buffer, maxDepth: maxDepth))
        case 21: return .consumeOk(consumerTag: try buffer.readAMQPShortString())
        case 30:
            let tag = try buffer.readAMQPShortString()
            return .cancel(consumerTag: tag, noWait: try buffer.readAMQPOctet().amqpBit(0))
        case 31: return .cancelOk(consumerTag: try buffer.readAMQPShortString())
        case 40: return .publish(try AMQPBasicPublish(from: &buffer))
        case 50: return .return(try AMQPBasicReturn(from: &buffer))
        case 60: return .deliver(try AMQPBasicDeliver(from: &buffer))
        case 70:
            _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
            let queue = try buffer.readAMQPShortString()
            return .get(queue: queue, noAck: try buffer.readAMQPOctet().amqpBit(0))
        case 71: return .getOk(try AMQPBasicGetOk(from: &buffer))
        case 72:
            _ = try buffer.readAMQPShortString()  // reserved-1 (cluster-id)
            return .getEmpty
        case 80:
            let tag = try buffer.readAMQPLongLong()
            return .ack(deliveryTag: tag, multiple: try buffer.readAMQPOctet().amqpBit(0))
        case 90:
            let tag = try buffer.readAMQPLongLong()
            return .reject(deliveryTag: tag, requeue: try buffer.readAMQPOctet().amqpBit(0))
        case 100: return .recoverAsync(requeue: try buffer.readAMQPOctet().amqpBit(0))
        case 110: return .recover(requeue: try buffer.readAMQPOctet().amqpBit(0))
        case 111: return .recoverOk
        case 120:
            let tag = try buffer.readAMQPLongLong()
            let bits = try buffer.readAMQPOctet()
            return .nack(deliveryTag: tag, multiple: bits.amqpBit(0), requeue: bits.amqpBit(1))
        default: throw .unknownMethod(classID: Self.classID, methodID: methodID)
        }
    }

    package func writeArguments(to buffer: inout ByteBuffer) {
        switch self {
        case .qos(let qos): qos.write(to: &buffer)
        case .consume(let consume): consume.write(to: &buffer)
        case .consumeOk(let tag), .cancelOk(let tag): buffer.writeAMQPShortString(tag)
        case .cancel(let tag, let noWait):
            buffer.writeAMQPShortString(tag)
            buffer.writeAMQPBits(noWait)
        case .publish(let publish): publish.write(to: &buffer)
        case .return(let returned): returned.write(to: &buffer)
        case .deliver(let deliver): deliver.write(to: &buffer)
        case .get(let queue, let noAck):
            buffer.writeInteger(UInt16(0))
            buffer.writeAMQPShortString(queue)
            buffer.writeAMQPBits(noAck)
        case .getOk(let getOk): getOk.write(to: &buffer)
        case .getEmpty: buffer.writeAMQPShortString("")
        case .ack(let tag, let flag), .reject(let tag, let flag):
            buffer.writeInteger(tag)
            buffer.writeAMQPBits(flag)
        case .recoverAsync(let requeue), .recover(let requeue): buffer.writeAMQPBits(requeue)
        case .nack(let tag, let multiple, let requeue):
            buffer.writeInteger(tag)
            buffer.writeAMQPBits(multiple, requeue)
        case .qosOk, .recoverOk: break
        }
    }
}
