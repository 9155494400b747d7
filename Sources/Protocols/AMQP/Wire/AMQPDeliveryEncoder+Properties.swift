package import NIOCore

extension AMQPDeliveryEncoder {
    /// `writeDeliver` for a message whose properties are already encoded (a publisher's own bytes): the
    /// content header is written straight into `buffer`, with no header buffer made per delivery.
    package static func writeDeliver(
        channel: UInt16, consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String,
        routingKey: String, propertyBytes: ByteBuffer, body: ByteBuffer, frameMax: Int, to buffer: inout ByteBuffer
    ) {
        let methodPayload = 4 + 1 + consumerTag.utf8.count + 8 + 1 + 1 + exchange.utf8.count + 1 + routingKey.utf8.count
        let headerPayload = AMQPContentHeader.fixedSize + propertyBytes.readableBytes
        let perFrame = AMQPEncodedContent.maxBodyFramePayload(frameMax: frameMax)
        let bodyBytes = body.readableBytes
        let bodyFrames = bodyBytes == 0 ? 0 : (bodyBytes - 1) / perFrame + 1
        buffer.reserveCapacity(
            minimumWritableBytes: 3 * AMQPLimits.frameOverhead + methodPayload + headerPayload + bodyBytes
                + bodyFrames * AMQPLimits.frameOverhead)
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
        // Content header: class, weight 0, body size, then the properties as the publisher encoded them.
        buffer.writeInteger(AMQPFrameType.header.rawValue)
        buffer.writeInteger(channel)
        buffer.writeInteger(UInt32(headerPayload))
        buffer.writeInteger(AMQPBasicMethod.classID)
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(UInt64(bodyBytes))
        buffer.writeImmutableBuffer(propertyBytes)
        buffer.writeInteger(AMQPFrame.frameEnd)
        var offset = body.readerIndex
        var left = bodyBytes
        while left > 0 {
            let count = min(left, perFrame)
            buffer.writeInteger(AMQPFrameType.body.rawValue)
            buffer.writeInteger(channel)
            buffer.writeInteger(UInt32(count))
            buffer.writeImmutableBuffer(body.getSlice(at: offset, length: count)!)
            buffer.writeInteger(AMQPFrame.frameEnd)
            offset += count
            left -= count
        }
    }
}
