package import NIOCore

/// A content header frame's payload (§4.2.6.1): class id, weight (always 0), body size, and the class's
/// properties. Only class basic (60) carries content in 0-9-1.
package struct AMQPContentHeader: Sendable, Hashable {
    package var classID: UInt16
    package var bodySize: UInt64
    package var properties: AMQPBasicProperties

    package init(classID: UInt16 = AMQPBasicMethod.classID, bodySize: UInt64, properties: AMQPBasicProperties) {
        self.classID = classID
        self.bodySize = bodySize
        self.properties = properties
    }

    /// Class id, weight and body size: what precedes the properties.
    package static let fixedSize = 12

    /// Reads a header frame's payload, which the properties must fill exactly.
    package static func decode(_ payload: ByteBuffer, limits: AMQPLimits) throws(AMQPError) -> AMQPContentHeader {
        var payload = payload
        let classID = try payload.readAMQPShort()
        // §4.2.6.1: "The weight field is unused and must be zero."
        guard try payload.readAMQPShort() == 0 else { throw .malformed("content header weight is not zero") }
        let bodySize = try payload.readAMQPLongLong()
        guard classID == AMQPBasicMethod.classID else {
            throw .malformed("content header for class \(classID), which has no content")
        }
        let properties = try AMQPBasicProperties.read(from: &payload, maxDepth: limits.maxFieldTableDepth)
        guard payload.readableBytes == 0 else { throw .malformed("bytes after the content header's properties") }
        return AMQPContentHeader(classID: classID, bodySize: bodySize, properties: properties)
    }

    /// Writes the payload of a header frame.
    package func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(classID)
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(bodySize)
        properties.write(to: &buffer)
    }

    /// Writes the whole header frame on `channel`.
    package func writeFrame(channel: UInt16, to buffer: inout ByteBuffer) {
        buffer.writeInteger(AMQPFrameType.header.rawValue)
        buffer.writeInteger(channel)
        let sizeIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        write(to: &buffer)
        buffer.setInteger(UInt32(buffer.writerIndex - sizeIndex - 4), at: sizeIndex)
        buffer.writeInteger(AMQPFrame.frameEnd)
    }
}
