package import NIOCore

/// Writes a whole delivery — basic.deliver method frame, content header frame, body frames — straight
/// into a connection's output buffer: the consumer hot path (DESIGN.md §4). One capacity reservation,
/// no intermediate buffer, no method value; the content was encoded once for every consumer
/// (`AMQPEncodedContent`). The bytes equal `AMQPMethod.basic(.deliver(…)).writeFrame` followed by
/// `content.writeFrames` (a test checks).
package enum AMQPDeliveryEncoder {
    /// Writes a basic.deliver and its content. Names are short strings: at most 255 bytes each.
    package static func writeDeliver(
        channel: UInt16, consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String,
        routingKey: String, content: AMQPEncodedContent, frameMax: Int, to buffer: inout ByteBuffer
    ) {
        let tagBytes = consumerTag.utf8.count
        let exchangeBytes = exchange.utf8.count
        let keyBytes = routingKey.utf8.count
        // class, method, tag, delivery tag, redelivered, exchange, routing key
        let methodPayload = 4 + 1 + tagBytes + 8 + 1 + 1 + exchangeBytes + 1 + keyBytes
        buffer.reserveCapacity(
            minimumWritableBytes: AMQPLimits.frameOverhead + methodPayload + content.framesSize(frameMax: frameMax))
        buffer.writeInteger(AMQPFrameType.method.rawValue)
        buffer.writeInteger(channel)
        buffer.writeInteger(UInt32(methodPayload))
        buffer.writeInteger(AMQPBasicMethod.classID)
        buffer.writeInteger(UInt16(60))
        buffer.writeAMQPShortString(consumerTag)
        buffer.writeInteger(deliveryTag)
        buffer.writeInteger(UInt8(redelivered ? 1 : 0))
        buffer.writeAMQPShortString(exchange)
        buffer.writeAMQPShortString(routingKey)
        buffer.writeInteger(AMQPFrame.frameEnd)
        content.writeFrames(channel: channel, frameMax: frameMax, to: &buffer)
    }

    /// Writes any content-carrying method (basic.get-ok, basic.return, …) and its content.
    package static func write(
        _ method: AMQPMethod, channel: UInt16, content: AMQPEncodedContent, frameMax: Int, to buffer: inout ByteBuffer
    ) {
        method.writeFrame(channel: channel, to: &buffer)
        content.writeFrames(channel: channel, frameMax: frameMax, to: &buffer)
    }
}
