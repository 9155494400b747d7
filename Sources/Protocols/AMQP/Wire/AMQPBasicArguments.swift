import NIOCore

// The arguments of basic methods with more than two fields, each a few lines: one file for the class.

/// basic.qos (60.10).
package struct AMQPBasicQos: Sendable, Hashable {
    /// Octets; RabbitMQ supports only 0 (no limit).
    package var prefetchSize: UInt32
    package var prefetchCount: UInt16
    /// RabbitMQ: the limit is shared by the channel's consumers (true) or per consumer (false).
    package var global: Bool

    package init(prefetchSize: UInt32 = 0, prefetchCount: UInt16, global: Bool = false) {
        self.prefetchSize = prefetchSize
        self.prefetchCount = prefetchCount
        self.global = global
    }

    init(from buffer: inout ByteBuffer) throws(AMQPError) {
        prefetchSize = try buffer.readAMQPLong()
        prefetchCount = try buffer.readAMQPShort()
        global = try buffer.readAMQPOctet().amqpBit(0)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(prefetchSize)
        buffer.writeInteger(prefetchCount)
        buffer.writeAMQPBits(global)
    }
}

/// basic.consume (60.20).
package struct AMQPBasicConsume: Sendable, Hashable {
    package var queue: String
    /// Empty: the server makes one ("amq.ctag-…").
    package var consumerTag: String
    package var noLocal: Bool
    package var noAck: Bool
    package var exclusive: Bool
    package var noWait: Bool
    package var arguments: AMQPFieldTable

    package init(
        queue: String, consumerTag: String = "", noLocal: Bool = false, noAck: Bool = false, exclusive: Bool = false,
        noWait: Bool = false, arguments: AMQPFieldTable = [:]
    ) {
        self.queue = queue
        self.consumerTag = consumerTag
        self.noLocal = noLocal
        self.noAck = noAck
        self.exclusive = exclusive
        self.noWait = noWait
        self.arguments = arguments
    }

    init(from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) {
        _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
        queue = try buffer.readAMQPShortString()
        consumerTag = try buffer.readAMQPShortString()
        let bits = try buffer.readAMQPOctet()
        noLocal = bits.amqpBit(0)
        noAck = bits.amqpBit(1)
        exclusive = bits.amqpBit(2)
        noWait = bits.amqpBit(3)
        arguments = try buffer.readAMQPFieldTable(maxDepth: maxDepth)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0))
        buffer.writeAMQPShortString(queue)
        buffer.writeAMQPShortString(consumerTag)
        buffer.writeAMQPBits(noLocal, noAck, exclusive, noWait)
        buffer.writeAMQPFieldTable(arguments)
    }
}

/// basic.publish (60.40).
package struct AMQPBasicPublish: Sendable, Hashable {
    /// Empty: the default exchange.
    package var exchange: String
    package var routingKey: String
    package var mandatory: Bool
    /// Not supported by RabbitMQ since 3.0 (it closes with 540).
    package var immediate: Bool

    package init(exchange: String, routingKey: String, mandatory: Bool = false, immediate: Bool = false) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.mandatory = mandatory
        self.immediate = immediate
    }

    init(from buffer: inout ByteBuffer) throws(AMQPError) {
        _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
        exchange = try buffer.readAMQPShortString()
        routingKey = try buffer.readAMQPShortString()
        let bits = try buffer.readAMQPOctet()
        mandatory = bits.amqpBit(0)
        immediate = bits.amqpBit(1)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0))
        buffer.writeAMQPShortString(exchange)
        buffer.writeAMQPShortString(routingKey)
        buffer.writeAMQPBits(mandatory, immediate)
    }
}

/// basic.return (60.50).
package struct AMQPBasicReturn: Sendable, Hashable {
    /// Usually `AMQPReplyCode.noRoute` (312).
    package var replyCode: UInt16
    package var replyText: String
    package var exchange: String
    package var routingKey: String

    package init(replyCode: UInt16, replyText: String, exchange: String, routingKey: String) {
        self.replyCode = replyCode
        self.replyText = replyText
        self.exchange = exchange
        self.routingKey = routingKey
    }

    init(from buffer: inout ByteBuffer) throws(AMQPError) {
        replyCode = try buffer.readAMQPShort()
        replyText = try buffer.readAMQPShortString()
        exchange = try buffer.readAMQPShortString()
        routingKey = try buffer.readAMQPShortString()
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(replyCode)
        buffer.writeAMQPShortString(replyText)
        buffer.writeAMQPShortString(exchange)
        buffer.writeAMQPShortString(routingKey)
    }
}

/// basic.deliver (60.60). The delivery path writes it with `AMQPDeliveryEncoder` instead, straight into
/// the output buffer; this is the value form (decoding, tests).
package struct AMQPBasicDeliver: Sendable, Hashable {
    package var consumerTag: String
    package var deliveryTag: UInt64
    package var redelivered: Bool
    package var exchange: String
    package var routingKey: String

    package init(consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String) {
        self.consumerTag = consumerTag
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
    }

    init(from buffer: inout ByteBuffer) throws(AMQPError) {
        consumerTag = try buffer.readAMQPShortString()
        deliveryTag = try buffer.readAMQPLongLong()
        redelivered = try buffer.readAMQPOctet().amqpBit(0)
        exchange = try buffer.readAMQPShortString()
        routingKey = try buffer.readAMQPShortString()
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeAMQPShortString(consumerTag)
        buffer.writeInteger(deliveryTag)
        buffer.writeAMQPBits(redelivered)
        buffer.writeAMQPShortString(exchange)
        buffer.writeAMQPShortString(routingKey)
    }
}

/// basic.get-ok (60.71).
package struct AMQPBasicGetOk: Sendable, Hashable {
    package var deliveryTag: UInt64
    package var redelivered: Bool
    package var exchange: String
    package var routingKey: String
    /// Messages left in the queue.
    package var messageCount: UInt32

    package init(deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String, messageCount: UInt32) {
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.messageCount = messageCount
    }

    init(from buffer: inout ByteBuffer) throws(AMQPError) {
        deliveryTag = try buffer.readAMQPLongLong()
        redelivered = try buffer.readAMQPOctet().amqpBit(0)
        exchange = try buffer.readAMQPShortString()
        routingKey = try buffer.readAMQPShortString()
        messageCount = try buffer.readAMQPLong()
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(deliveryTag)
        buffer.writeAMQPBits(redelivered)
        buffer.writeAMQPShortString(exchange)
        buffer.writeAMQPShortString(routingKey)
        buffer.writeInteger(messageCount)
    }
}
