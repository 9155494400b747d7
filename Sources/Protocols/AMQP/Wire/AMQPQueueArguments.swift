import NIOCore

// The arguments of queue methods, each a few lines: one file for the class.

/// queue.declare (50.10).
package struct AMQPQueueDeclare: Sendable, Hashable {
    /// Empty: the server names the queue ("amq.gen-…").
    package var queue: String
    package var passive: Bool
    package var durable: Bool
    package var exclusive: Bool
    package var autoDelete: Bool
    package var noWait: Bool
    package var arguments: AMQPFieldTable

    package init(
        queue: String, passive: Bool = false, durable: Bool = false, exclusive: Bool = false,
        autoDelete: Bool = false, noWait: Bool = false, arguments: AMQPFieldTable = [:]
    ) {
        self.queue = queue
        self.passive = passive
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.noWait = noWait
        self.arguments = arguments
    }

    init(from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) {
        _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
        queue = try buffer.readAMQPShortString()
        let bits = try buffer.readAMQPOctet()
        passive = bits.amqpBit(0)
        durable = bits.amqpBit(1)
        exclusive = bits.amqpBit(2)
        autoDelete = bits.amqpBit(3)
        noWait = bits.amqpBit(4)
        arguments = try buffer.readAMQPFieldTable(maxDepth: maxDepth)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0))
        buffer.writeAMQPShortString(queue)
        buffer.writeAMQPBits(passive, durable, exclusive, autoDelete, noWait)
        buffer.writeAMQPFieldTable(arguments)
    }
}

/// queue.declare-ok (50.11).
package struct AMQPQueueDeclareOk: Sendable, Hashable {
    package var queue: String
    package var messageCount: UInt32
    package var consumerCount: UInt32

    package init(queue: String, messageCount: UInt32, consumerCount: UInt32) {
        self.queue = queue
        self.messageCount = messageCount
        self.consumerCount = consumerCount
    }

    init(from buffer: inout ByteBuffer) throws(AMQPError) {
        queue = try buffer.readAMQPShortString()
        messageCount = try buffer.readAMQPLong()
        consumerCount = try buffer.readAMQPLong()
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeAMQPShortString(queue)
        buffer.writeInteger(messageCount)
        buffer.writeInteger(consumerCount)
    }
}

/// queue.bind (50.20).
package struct AMQPQueueBind: Sendable, Hashable {
    package var queue: String
    package var exchange: String
    package var routingKey: String
    package var noWait: Bool
    package var arguments: AMQPFieldTable

    package init(
        queue: String, exchange: String, routingKey: String, noWait: Bool = false, arguments: AMQPFieldTable = [:]
    ) {
        self.queue = queue
        self.exchange = exchange
        self.routingKey = routingKey
        self.noWait = noWait
        self.arguments = arguments
    }

    init(from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) {
        _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
        queue = try buffer.readAMQPShortString()
        exchange = try buffer.readAMQPShortString()
        routingKey = try buffer.readAMQPShortString()
        noWait = try buffer.readAMQPOctet().amqpBit(0)
        arguments = try buffer.readAMQPFieldTable(maxDepth: maxDepth)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0))
        buffer.writeAMQPShortString(queue)
        buffer.writeAMQPShortString(exchange)
        buffer.writeAMQPShortString(routingKey)
        buffer.writeAMQPBits(noWait)
        buffer.writeAMQPFieldTable(arguments)
    }
}

/// queue.unbind (50.50): bind's fields without no-wait.
package struct AMQPQueueUnbind: Sendable, Hashable {
    package var queue: String
    package var exchange: String
    package var routingKey: String
    package var arguments: AMQPFieldTable

    package init(queue: String, exchange: String, routingKey: String, arguments: AMQPFieldTable = [:]) {
        self.queue = queue
        self.exchange = exchange
        self.routingKey = routingKey
        self.arguments = arguments
    }

    init(from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) {
        _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
        queue = try buffer.readAMQPShortString()
        exchange = try buffer.readAMQPShortString()
        routingKey = try buffer.readAMQPShortString()
        arguments = try buffer.readAMQPFieldTable(maxDepth: maxDepth)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0))
        buffer.writeAMQPShortString(queue)
        buffer.writeAMQPShortString(exchange)
        buffer.writeAMQPShortString(routingKey)
        buffer.writeAMQPFieldTable(arguments)
    }
}

/// queue.delete (50.40).
package struct AMQPQueueDelete: Sendable, Hashable {
    package var queue: String
    package var ifUnused: Bool
    package var ifEmpty: Bool
    package var noWait: Bool

    package init(queue: String, ifUnused: Bool = false, ifEmpty: Bool = false, noWait: Bool = false) {
        self.queue = queue
        self.ifUnused = ifUnused
        self.ifEmpty = ifEmpty
        self.noWait = noWait
    }

    init(from buffer: inout ByteBuffer) throws(AMQPError) {
        _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
        queue = try buffer.readAMQPShortString()
        let bits = try buffer.readAMQPOctet()
        ifUnused = bits.amqpBit(0)
        ifEmpty = bits.amqpBit(1)
        noWait = bits.amqpBit(2)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0))
        buffer.writeAMQPShortString(queue)
        buffer.writeAMQPBits(ifUnused, ifEmpty, noWait)
    }
}
