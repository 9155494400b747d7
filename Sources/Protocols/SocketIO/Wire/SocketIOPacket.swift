package import BusCore
package import NIOCore

/// The seven Socket.IO v5 packet types.
package enum SocketIOPacketType: UInt8, Sendable, Equatable {
    case connect = 0
    case disconnect = 1
    case event = 2
    case ack = 3
    case connectError = 4
    case binaryEvent = 5
    case binaryAck = 6

    /// Whether the packet is followed by binary attachments.
    package var isBinary: Bool { self == .binaryEvent || self == .binaryAck }
}

/// One Socket.IO packet, carried in an Engine.IO `message`:
/// `<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]` (socket.io-protocol v5 §packet
/// encoding). The data is kept as the raw JSON bytes it arrived as, so an event is forwarded without
/// being re-encoded.
package struct SocketIOPacket: Sendable, Equatable {
    package var type: SocketIOPacketType
    /// `/` for the main namespace.
    package var namespace: String
    /// The acknowledgement id, when the sender wants an answer (EVENT) or answers one (ACK).
    package var ackID: UInt64?
    /// The JSON data (object for CONNECT/CONNECT_ERROR, array for EVENT/ACK), nil when absent.
    package var data: ByteBuffer?
    /// How many binary attachments follow (BINARY_EVENT, BINARY_ACK).
    package var attachments: Int

    package init(
        _ type: SocketIOPacketType, namespace: String = "/", ackID: UInt64? = nil, data: ByteBuffer? = nil,
        attachments: Int = 0
    ) {
        self.type = type
        self.namespace = namespace
        self.ackID = ackID
        self.data = data
        self.attachments = attachments
    }

    /// Decodes the text of an Engine.IO message, checking the data's shape for the type as the reference
    /// parser does (`isPayloadValid`): a CONNECT carries an object or nothing, a DISCONNECT nothing, an
    /// EVENT a non-empty array led by an event name that is not reserved, an ACK an array.
    package static func decode(_ text: ByteBuffer, limits: SocketIOLimits) throws(SocketIOError) -> SocketIOPacket {
        var reader = text
        guard let typeByte = reader.readInteger(as: UInt8.self), typeByte >= UInt8(ascii: "0"),
            let type = SocketIOPacketType(rawValue: typeByte - UInt8(ascii: "0"))
        else { throw .invalidPacket("unknown packet type") }
        var packet = SocketIOPacket(type)
        if type.isBinary {
            guard let count = readNumber(&reader, maxDigits: 6), reader.readInteger(as: UInt8.self) == UInt8(ascii: "-")
            else { throw .invalidPacket("illegal attachments") }
            guard count <= limits.maxAttachments else { throw .invalidPacket("too many attachments") }
            packet.attachments = Int(count)
        }
        if reader.getInteger(at: reader.readerIndex, as: UInt8.self) == UInt8(ascii: "/") {
            let comma = reader.readableBytesView.firstIndex(of: UInt8(ascii: ","))
            let length = comma.map { $0 - reader.readerIndex } ?? reader.readableBytes
            guard length <= limits.maxNamespaceBytes else { throw .invalidPacket("namespace too long") }
            // A namespace is text: bytes that are not UTF-8 are refused, not repaired into another name (a
            // WebSocket text frame is checked already; a polling body is not).
            guard
                reader.withUnsafeReadableBytes({
                    UTF8Validation.isValid(UnsafeRawBufferPointer(rebasing: $0[..<length]))
                })
            else { throw .invalidPacket("namespace is not UTF-8") }
            packet.namespace = reader.readString(length: length)!
            if comma != nil { reader.moveReaderIndex(forwardBy: 1) }
        }
        if let first = reader.getInteger(at: reader.readerIndex, as: UInt8.self), isDigit(first) {
            guard let id = readNumber(&reader, maxDigits: 15) else { throw .invalidPacket("invalid ack id") }
            packet.ackID = id
        }
        if reader.readableBytes > 0 {
            let valid = reader.withUnsafeReadableBytes { JSONParser.isValidJSON($0) }
            guard valid else { throw .invalidPacket("invalid payload") }
            packet.data = reader
        }
        try packet.checkShape()
        return packet
    }

    /// Reserved event names a client may not emit (socket.io `RESERVED_EVENTS`).
    package static let reservedEvents: Set<String> = [
        "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
    ]

    private func checkShape() throws(SocketIOError) {
        let first = data.flatMap { $0.getInteger(at: $0.readerIndex, as: UInt8.self) }
        switch type {
        case .connect:
            guard data == nil || first == UInt8(ascii: "{") else { throw .invalidPacket("invalid payload") }
        case .disconnect:
            guard data == nil else { throw .invalidPacket("invalid payload") }
        case .connectError:
            guard first == UInt8(ascii: "{") || first == UInt8(ascii: "\"") else {
                throw .invalidPacket("invalid payload")
            }
        case .ack, .binaryAck:
            guard first == UInt8(ascii: "[") else { throw .invalidPacket("invalid payload") }
        case .event, .binaryEvent:
            guard let head = eventHead, head.isNumber || !SocketIOPacket.reservedEvents.contains(head.name) else {
                throw .invalidPacket("invalid payload")
            }
        }
    }

    /// The data parsed (already known to be valid JSON).
    package var json: JSONValue? {
        guard let data else { return nil }
        return try? data.withUnsafeReadableBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) }
    }

    /// An EVENT's name and what follows it, found by scanning rather than parsing the arguments:
    /// `["chat", a, b]` → `chat` and `, a, b]`. The reference parser also accepts a number as the name
    /// (`isNumber`, the name then being its text). nil when the data is not an array led by either.
    package var eventHead: (name: String, isNumber: Bool, rest: ByteBuffer)? {
        guard let data else { return nil }
        let view = data.readableBytesView
        var index = view.startIndex
        func skipSpace() {
            while index < view.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(view[index]) { index += 1 }
        }
        skipSpace()
        guard index < view.endIndex, view[index] == UInt8(ascii: "[") else { return nil }
        index += 1
        skipSpace()
        guard index < view.endIndex else { return nil }
        let start = index
        let name: String
        let isNumber: Bool
        if view[index] == UInt8(ascii: "\"") {
            var escaped = false
            index += 1
            while index < view.endIndex, view[index] != UInt8(ascii: "\"") {
                if view[index] == UInt8(ascii: "\\") { escaped = true }
                index += view[index] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard index < view.endIndex else { return nil }
            index += 1
            if escaped {
                let literal = data.getSlice(at: start, length: index - start)!
                guard
                    case .string(let text)? = try? literal.withUnsafeReadableBytes({ bytes throws(JSONError) in
                        try JSONParser.parse(bytes)
                    })
                else { return nil }
                name = text
            } else {
                name = String(decoding: view[(start + 1)..<(index - 1)], as: UTF8.self)
            }
            isNumber = false
        } else if view[index] == UInt8(ascii: "-")
            || (view[index] >= UInt8(ascii: "0") && view[index] <= UInt8(ascii: "9"))
        {
            while index < view.endIndex, Array("0123456789+-.eE".utf8).contains(view[index]) { index += 1 }
            name = String(decoding: view[start..<index], as: UTF8.self)
            isNumber = true
        } else {
            return nil
        }
        return (name, isNumber, data.getSlice(at: index, length: view.endIndex - index)!)
    }

    /// Writes the packet's text (the Engine.IO message data).
    package func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(type.rawValue + UInt8(ascii: "0"))
        if type.isBinary {
            buffer.writeDecimal(attachments)
            buffer.writeInteger(UInt8(ascii: "-"))
        }
        if namespace != "/" {
            buffer.writeString(namespace)
            buffer.writeInteger(UInt8(ascii: ","))
        }
        if let ackID { buffer.writeDecimal(ackID) }
        if let data { buffer.writeImmutableBuffer(data) }
    }

    /// The packet's text.
    package var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(16 + namespace.utf8.count + (data?.readableBytes ?? 0))
        write(into: &buffer)
        return buffer
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// Reads a decimal number of at most `maxDigits` digits; nil when there is none or it is longer.
    private static func readNumber(_ reader: inout ByteBuffer, maxDigits: Int) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        while let byte = reader.getInteger(at: reader.readerIndex, as: UInt8.self), isDigit(byte) {
            digits += 1
            guard digits <= maxDigits else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
            reader.moveReaderIndex(forwardBy: 1)
        }
        return digits == 0 ? nil : value
    }
}
