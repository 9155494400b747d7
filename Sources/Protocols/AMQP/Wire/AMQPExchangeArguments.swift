import NIOCore

// The arguments of exchange methods, each a few lines: one file for the class.

/// exchange.declare (40.10).
package struct AMQPExchangeDeclare: Sendable, Hashable {
    package var exchange: String
    /// "direct", "fanout", "topic", "headers", or a plugin's type.
    package var type: String
    package var passive: Bool
    package var durable: Bool
    package var autoDelete: Bool
    package var `internal`: Bool
    package var noWait: Bool
    package var arguments: AMQPFieldTable

    package init(
        exchange: String, type: String, passive: Bool = false, durable: Bool = false, autoDelete: Bool = false,
        internal: Bool = false, noWait: Bool = false, arguments: AMQPFieldTable = [:]
    ) {
        self.exchange = exchange
        self.type = type
        self.passive = passive
        self.durable = durable
        self.autoDelete = autoDelete
        self.internal = `internal`
        self.noWait = noWait
        self.arguments = arguments
    }

    init(from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) {
        _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
        exchange = try buffer.readAMQPShortString()
        type = try buffer.readAMQPShortString()
        let bits = try buffer.readAMQPOctet()
        passive = bits.amqpBit(0)
        durable = bits.amqpBit(1)
        autoDelete = bits.amqpBit(2)
        `internal` = bits.amqpBit(3)
        noWait = bits.amqpBit(4)
        arguments = try buffer.readAMQPFieldTable(maxDepth: maxDepth)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0))
        buffer.writeAMQPShortString(exchange)
        buffer.writeAMQPShortString(type)
        buffer.writeAMQPBits(passive, durable, autoDelete, `internal`, noWait)
        buffer.writeAMQPFieldTable(arguments)
    }
}

/// exchange.delete (40.20).
package struct AMQPExchangeDelete: Sendable, Hashable {
    package var exchange: String
    package var ifUnused: Bool
    package var noWait: Bool

    package init(exchange: String, ifUnused: Bool = false, noWait: Bool = false) {
        self.exchange = exchange
        self.ifUnused = ifUnused
        self.noWait = noWait
    }

    init(from buffer: inout ByteBuffer) throws(AMQPError) {
        _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
        exchange = try buffer.readAMQPShortString()
        let bits = try buffer.readAMQPOctet()
        ifUnused = bits.amqpBit(0)
        noWait = bits.amqpBit(1)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0))
        buffer.writeAMQPShortString(exchange)
        buffer.writeAMQPBits(ifUnused, noWait)
    }
}

/// exchange.bind (40.30) and exchange.unbind (40.40), RabbitMQ: the same fields.
package struct AMQPExchangeBind: Sendable, Hashable {
    package var destination: String
    package var source: String
    package var routingKey: String
    package var noWait: Bool
    package var arguments: AMQPFieldTable

    package init(
        destination: String, source: String, routingKey: String, noWait: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) {
        self.destination = destination
        self.source = source
        self.routingKey = routingKey
        self.noWait = noWait
        self.arguments = arguments
    }

    init(from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) {
        _ = try buffer.readAMQPShort()  // reserved-1 (ticket)
        destination = try buffer.readAMQPShortString()
        source = try buffer.readAMQPShortString()
        routingKey = try buffer.readAMQPShortString()
        noWait = try buffer.readAMQPOctet().amqpBit(0)
        arguments = try buffer.readAMQPFieldTable(maxDepth: maxDepth)
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0))
        buffer.writeAMQPShortString(destination)
        buffer.writeAMQPShortString(source)
        buffer.writeAMQPShortString(routingKey)
        buffer.writeAMQPBits(noWait)
        buffer.writeAMQPFieldTable(arguments)
    }
}
