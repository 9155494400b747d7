package import NIOCore

extension AMQPEncodedContent {
    /// Content whose properties are already encoded (`AMQPBasicProperties.write(to:)`'s bytes, as a
    /// publisher sent them): the header is made without decoding them again.
    package init(propertyBytes: ByteBuffer, body: ByteBuffer) {
        var header = ByteBuffer()
        header.reserveCapacity(AMQPContentHeader.fixedSize + propertyBytes.readableBytes)
        header.writeInteger(AMQPBasicMethod.classID)
        header.writeInteger(UInt16(0))
        header.writeInteger(UInt64(body.readableBytes))
        header.writeImmutableBuffer(propertyBytes)
        self.headerPayload = header
        self.body = body
    }
}
