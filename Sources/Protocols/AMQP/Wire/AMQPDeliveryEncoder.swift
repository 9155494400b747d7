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
        let methodPayload = deliverPayload(consumerTag: consumerTag, exchange: exchange, routingKey: routingKey)
        let methodFrame = AMQPLimits.frameOverhead + methodPayload
        buffer.reserveCapacity(minimumWritableBytes: methodFrame + content.framesSize(frameMax: frameMax))
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: methodFrame) { out in
            var cursor = RawCursor(out)
            cursor.putDeliverMethod(
                channel: channel, payload: methodPayload, consumerTag: consumerTag, deliveryTag: deliveryTag,
                redelivered: redelivered, exchange: exchange, routingKey: routingKey)
            return cursor.offset
        }
        content.writeFrames(channel: channel, frameMax: frameMax, to: &buffer)
    }

    /// The basic.deliver method payload's size: class, method, tag, delivery tag, redelivered, exchange,
    /// routing key.
    static func deliverPayload(consumerTag: String, exchange: String, routingKey: String) -> Int {
        4 + 1 + consumerTag.utf8.count + 8 + 1 + 1 + exchange.utf8.count + 1 + routingKey.utf8.count
    }

    /// Writes any content-carrying method (basic.get-ok, basic.return, …) and its content.
    package static func write(
        _ method: AMQPMethod, channel: UInt16, content: AMQPEncodedContent, frameMax: Int, to buffer: inout ByteBuffer
    ) {
        method.writeFrame(channel: channel, to: &buffer)
        content.writeFrames(channel: channel, frameMax: frameMax, to: &buffer)
    }
}
