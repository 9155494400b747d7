package import BusCore
package import NIOCore

/// A NATS header block: `NATS/1.0[ <status>[ <description>]]\r\n` then `Key: Value\r\n` lines and an
/// empty line. On the bus, `Content-Type` is the message's content type and every other field a user
/// property (order and repeats kept), so MQTT user properties and NATS headers are the same thing.
package struct NATSHeaderBlock: Sendable, Equatable {
    /// A status such as 503 (no responders); nil for plain headers.
    package var status: Int?
    package var statusDescription: String?
    package var fields: [UserProperty]

    package init(status: Int? = nil, statusDescription: String? = nil, fields: [UserProperty] = []) {
        self.status = status
        self.statusDescription = statusDescription
        self.fields = fields
    }

    static let prefix = "NATS/1.0"

    /// Parses the header bytes of an `HPUB`.
    package static func parse(_ buffer: ByteBuffer) throws(NATSProtocolError) -> NATSHeaderBlock {
        // Bytes, not Characters: Swift reads "\r\n" as one Character.
        let bytes = Array(buffer.readableBytesView)
        guard bytes.count >= 12, bytes.starts(with: prefix.utf8), bytes.suffix(4).elementsEqual("\r\n\r\n".utf8) else {
            throw .malformed("headers must start with NATS/1.0 and end with an empty line")
        }
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        let end = bytes.count - 2  // the final empty line
        while index + 1 < end {
            if bytes[index] == 0x0D && bytes[index + 1] == 0x0A {
                lines.append(bytes[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        var block = NATSHeaderBlock()
        let statusLine = lines.removeFirst().dropFirst(prefix.utf8.count).drop { $0 == 0x20 }
        if !statusLine.isEmpty {
            let text = String(decoding: statusLine, as: UTF8.self)
            let parts = text.split(separator: " ", maxSplits: 1)
            guard let status = Int(parts[0]) else { throw .malformed("header status must be a number") }
            block.status = status
            if parts.count == 2 { block.statusDescription = String(parts[1]) }
        }
        for line in lines {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon != line.startIndex else {
                throw .malformed("header line without a name")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self)
            let value = line[(colon + 1)...].drop { $0 == 0x20 || $0 == 0x09 }
            block.fields.append(UserProperty(name: name, value: String(decoding: value, as: UTF8.self)))
        }
        return block
    }

    /// The block as it goes on the wire.
    package func write(to buffer: inout ByteBuffer) {
        buffer.writeString(Self.prefix)
        if let status {
            buffer.writeString(" \(status)")
            if let statusDescription { buffer.writeString(" " + statusDescription) }
        }
        buffer.writeStaticString("\r\n")
        for field in fields {
            buffer.writeString(field.name)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    /// Headers as the bus carries them.
    package var messageHeaders: MessageHeaders {
        var headers = MessageHeaders()
        for field in fields {
            if headers.contentType == nil, field.name.lowercased() == "content-type" {
                headers.contentType = field.value
            } else {
                headers.userProperties.append(field)
            }
        }
        return headers
    }

    /// The block for a bus message's headers; nil when it has nothing a NATS header carries.
    package init?(_ headers: MessageHeaders) {
        guard headers.contentType != nil || !headers.userProperties.isEmpty else { return nil }
        var fields: [UserProperty] = []
        if let contentType = headers.contentType {
            fields.append(UserProperty(name: "Content-Type", value: contentType))
        }
        for property in headers.userProperties where Self.isWritable(property) { fields.append(property) }
        self.init(fields: fields)
    }

    /// A field that can be written without breaking the block (no CR/LF, a name without ':').
    private static func isWritable(_ property: UserProperty) -> Bool {
        !property.name.isEmpty && !property.name.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x3A || $0 == 0x20 }
            && !property.value.utf8.contains { $0 == 0x0D || $0 == 0x0A }
    }
}
