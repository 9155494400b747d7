package import NIOCore

extension AMQPBasicProperties {
    /// The property flags word: one bit per present property (§4.2.6.1). Basic has 14 properties, so one
    /// word always suffices and the continuation bit is never set.
    package var flags: UInt16 {
        var flags: UInt16 = 0
        if contentType != nil { flags |= Flag.contentType }
        if contentEncoding != nil { flags |= Flag.contentEncoding }
        if headers != nil { flags |= Flag.headers }
        if deliveryMode != nil { flags |= Flag.deliveryMode }
        if priority != nil { flags |= Flag.priority }
        if correlationID != nil { flags |= Flag.correlationID }
        if replyTo != nil { flags |= Flag.replyTo }
        if expiration != nil { flags |= Flag.expiration }
        if messageID != nil { flags |= Flag.messageID }
        if timestamp != nil { flags |= Flag.timestamp }
        if type != nil { flags |= Flag.type }
        if userID != nil { flags |= Flag.userID }
        if appID != nil { flags |= Flag.appID }
        if clusterID != nil { flags |= Flag.clusterID }
        return flags
    }

    /// Reads the flags word(s) and the flagged properties, in order (§4.2.6.1).
    package static func read(from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) -> AMQPBasicProperties {
        let flags = try buffer.readAMQPShort()
        var more = flags & Flag.continuation != 0
        while more {
            // §4.2.6.1 lets the flags continue; basic defines no property past the first word, so a
            // further word may only say "no more properties" (and is bounded by the frame).
            let word = try buffer.readAMQPShort()
            guard word & ~Flag.continuation == 0 else { throw .malformed("property flag for an undefined property") }
            more = word & Flag.continuation != 0
        }
        // Bit 1 is not a property of basic.
        guard flags & 0b10 == 0 else { throw .malformed("property flag for an undefined property") }
        guard flags != 0 else { return AMQPBasicProperties() }
        var properties = AMQPBasicProperties.Values()
        if flags & Flag.contentType != 0 { properties.contentType = try buffer.readAMQPShortString() }
        if flags & Flag.contentEncoding != 0 { properties.contentEncoding = try buffer.readAMQPShortString() }
        if flags & Flag.headers != 0 { properties.headers = try buffer.readAMQPFieldTable(maxDepth: maxDepth) }
        if flags & Flag.deliveryMode != 0 { properties.deliveryMode = try buffer.readAMQPOctet() }
        if flags & Flag.priority != 0 { properties.priority = try buffer.readAMQPOctet() }
        if flags & Flag.correlationID != 0 { properties.correlationID = try buffer.readAMQPShortString() }
        if flags & Flag.replyTo != 0 { properties.replyTo = try buffer.readAMQPShortString() }
        if flags & Flag.expiration != 0 { properties.expiration = try buffer.readAMQPShortString() }
        if flags & Flag.messageID != 0 { properties.messageID = try buffer.readAMQPShortString() }
        if flags & Flag.timestamp != 0 { properties.timestamp = try buffer.readAMQPLongLong() }
        if flags & Flag.type != 0 { properties.type = try buffer.readAMQPShortString() }
        if flags & Flag.userID != 0 { properties.userID = try buffer.readAMQPShortString() }
        if flags & Flag.appID != 0 { properties.appID = try buffer.readAMQPShortString() }
        if flags & Flag.clusterID != 0 { properties.clusterID = try buffer.readAMQPShortString() }
        return AMQPBasicProperties(values: properties)
    }

    /// Writes the flags word and only the present properties.
    package func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(flags)
        if let contentType { buffer.writeAMQPShortString(contentType) }
        if let contentEncoding { buffer.writeAMQPShortString(contentEncoding) }
        if let headers { buffer.writeAMQPFieldTable(headers) }
        if let deliveryMode { buffer.writeInteger(deliveryMode) }
        if let priority { buffer.writeInteger(priority) }
        if let correlationID { buffer.writeAMQPShortString(correlationID) }
        if let replyTo { buffer.writeAMQPShortString(replyTo) }
        if let expiration { buffer.writeAMQPShortString(expiration) }
        if let messageID { buffer.writeAMQPShortString(messageID) }
        if let timestamp { buffer.writeInteger(timestamp) }
        if let type { buffer.writeAMQPShortString(type) }
        if let userID { buffer.writeAMQPShortString(userID) }
        if let appID { buffer.writeAMQPShortString(appID) }
        if let clusterID { buffer.writeAMQPShortString(clusterID) }
    }
}
