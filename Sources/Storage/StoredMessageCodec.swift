package import BusCore
package import NIOCore

/// The stored form of a message: everything but its topic and log position, which the row keeps in
/// columns. Little-endian, versioned, every length checked on the way back in (a corrupted row reads as
/// nil, never as a wrong message).
///
///     u8  version (1)
///     u64 timestamp (ns since the Unix epoch)
///     u16 field flags (bit i set: field i follows, in bit order)
///         0 publisherID  str   1 contentType str   2 correlationID str   3 replyTo str
///         4 expiresAt    u64   5 priority    u8    6 eventType     str   7 qos     u8
///         8 retain (no body)   9 payloadIsUTF8 = true (no body)   10 payloadIsUTF8 = false (no body)
///         11 userProperties: u32 count, then name str, value str each
///         12 native: protocol name str, then u32 length + the bytes
///     u32 payload length, payload bytes
///     str = u32 length + UTF-8 bytes
package enum StoredMessageCodec {
    static let version: UInt8 = 1
    /// Longest string or payload accepted on decode (the bus never makes larger ones).
    static let maxLength = 256 << 20

    package static func encode(_ message: BusMessage, into buffer: inout ByteBuffer) {
        let headers = message.headers
        var flags: UInt16 = 0
        if message.publisherID != nil { flags |= 1 << 0 }
        if headers.contentType != nil { flags |= 1 << 1 }
        if headers.correlationID != nil { flags |= 1 << 2 }
        if headers.replyTo != nil { flags |= 1 << 3 }
        if headers.expiresAt != nil { flags |= 1 << 4 }
        if headers.priority != nil { flags |= 1 << 5 }
        if headers.eventType != nil { flags |= 1 << 6 }
        if headers.qos != nil { flags |= 1 << 7 }
        if headers.retain { flags |= 1 << 8 }
        if headers.payloadIsUTF8 == true { flags |= 1 << 9 }
        if headers.payloadIsUTF8 == false { flags |= 1 << 10 }
        if !headers.userProperties.isEmpty { flags |= 1 << 11 }
        if headers.native != nil { flags |= 1 << 12 }
        buffer.writeInteger(version)
        buffer.writeInteger(message.timestamp, endianness: .little)
        buffer.writeInteger(flags, endianness: .little)
        if let value = message.publisherID { writeString(value, &buffer) }
        if let value = headers.contentType { writeString(value, &buffer) }
        if let value = headers.correlationID { writeString(value, &buffer) }
        if let value = headers.replyTo { writeString(value, &buffer) }
        if let value = headers.expiresAt { buffer.writeInteger(value, endianness: .little) }
        if let value = headers.priority { buffer.writeInteger(value) }
        if let value = headers.eventType { writeString(value, &buffer) }
        if let value = headers.qos { buffer.writeInteger(value) }
        if !headers.userProperties.isEmpty {
            buffer.writeInteger(UInt32(headers.userProperties.count), endianness: .little)
            for property in headers.userProperties {
                writeString(property.name, &buffer)
                writeString(property.value, &buffer)
            }
        }
        if let native = headers.native {
            writeString(native.protocolName, &buffer)
            buffer.writeInteger(UInt32(native.bytes.readableBytes), endianness: .little)
            var bytes = native.bytes
            buffer.writeBuffer(&bytes)
        }
        buffer.writeInteger(UInt32(message.payload.readableBytes), endianness: .little)
        var payload = message.payload
        buffer.writeBuffer(&payload)
    }

    package static func encode(_ message: BusMessage) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(message.payload.readableBytes + 32)
        encode(message, into: &buffer)
        return buffer
    }

    /// The message stored in `bytes`, on `topic`, at `position`; nil when the bytes are not a whole,
    /// valid record.
    package static func decode(_ bytes: ByteBuffer, topic: Topic, position: LogPosition?) -> BusMessage? {
        var buffer = bytes
        guard buffer.readInteger(as: UInt8.self) == version,
            let timestamp = buffer.readInteger(endianness: .little, as: UInt64.self),
            let flags = buffer.readInteger(endianness: .little, as: UInt16.self), flags < 1 << 13
        else { return nil }
        func has(_ bit: Int) -> Bool { flags & (1 << bit) != 0 }
        var publisherID: String?
        var contentType: String?
        var correlationID: String?
        var replyTo: String?
        var expiresAt: UInt64?
        var priority: UInt8?
        var eventType: String?
        var qos: UInt8?
        var payloadIsUTF8: Bool?
        var properties: [UserProperty] = []
        if has(0) { guard let v = readString(&buffer) else { return nil }; publisherID = v }
        if has(1) { guard let v = readString(&buffer) else { return nil }; contentType = v }
        if has(2) { guard let v = readString(&buffer) else { return nil }; correlationID = v }
        if has(3) { guard let v = readString(&buffer) else { return nil }; replyTo = v }
        if has(4) {
            guard let v = buffer.readInteger(endianness: .little, as: UInt64.self) else { return nil }
            expiresAt = v
        }
        if has(5) { guard let v = buffer.readInteger(as: UInt8.self) else { return nil }; priority = v }
        if has(6) { guard let v = readString(&buffer) else { return nil }; eventType = v }
        if has(7) { guard let v = buffer.readInteger(as: UInt8.self) else { return nil }; qos = v }
        if has(9) && has(10) { return nil }
        if has(9) { payloadIsUTF8 = true }
        if has(10) { payloadIsUTF8 = false }
        if has(11) {
            guard let count = buffer.readInteger(endianness: .little, as: UInt32.self),
                Int(count) <= buffer.readableBytes / 8
            else { return nil }
            properties.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let name = readString(&buffer), let value = readString(&buffer) else { return nil }
                properties.append(UserProperty(name: name, value: value))
            }
        }
        var native: NativeProperties?
        if has(12) {
            guard let name = readString(&buffer), let length = buffer.readInteger(endianness: .little, as: UInt32.self),
                Int(length) <= maxLength, let bytes = buffer.readSlice(length: Int(length))
            else { return nil }
            native = NativeProperties(protocolName: name, bytes: bytes)
        }
        let headers = MessageHeaders(
            contentType: contentType, correlationID: correlationID, replyTo: replyTo, userProperties: properties,
            expiresAt: expiresAt, priority: priority, eventType: eventType, qos: qos, retain: has(8),
            payloadIsUTF8: payloadIsUTF8, native: native)
        guard let length = buffer.readInteger(endianness: .little, as: UInt32.self),
            Int(length) == buffer.readableBytes, let payload = buffer.readSlice(length: Int(length))
        else { return nil }
        return BusMessage(
            topic: topic, payload: payload, headers: headers, publisherID: publisherID, timestamp: timestamp,
            position: position)
    }

    private static func writeString(_ value: String, _ buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(value.utf8.count), endianness: .little)
        buffer.writeString(value)
    }

    private static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(endianness: .little, as: UInt32.self), Int(length) <= maxLength,
            let bytes = buffer.readSlice(length: Int(length))
        else { return nil }
        return bytes.withUnsafeReadableBytes(UTF8Validation.string)
    }
}
