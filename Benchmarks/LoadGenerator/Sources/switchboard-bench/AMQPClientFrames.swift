import NIOCore

/// The few AMQP 0-9-1 frames the load generator's client sends and reads, hand-encoded (the tool does
/// not depend on Switchboard's modules). Frame layout (§4.2.3): type, channel, payload size, payload,
/// frame-end `0xCE`; a method payload starts with its class and method ids (§4.2.4).
enum AMQPClientFrame {
    /// The protocol header a client opens with (§4.2.2): "AMQP" 0 0 9 1.
    static let protocolHeader: [UInt8] = [0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1]
    /// Frame types (§4.2.3).
    static let methodType: UInt8 = 1
    static let headerType: UInt8 = 2
    static let bodyType: UInt8 = 3
    static let heartbeatType: UInt8 = 8
    /// Ends every frame.
    static let frameEnd: UInt8 = 0xCE
    /// Type, channel and size before the payload, plus the frame-end after it.
    static let overhead = 8
    /// The frame-max a client proposes when the server leaves it open (0), and the frame-min-size below
    /// which no peer may go (§4.2.3).
    static let defaultFrameMax = 131_072
    static let minimumFrameMax = 4096
    /// The basic class id, which content headers also carry.
    static let basicClass: UInt16 = 60
    /// `delivery-mode` is the 4th property (bit 12 of the property flags); 2 = persistent.
    static let deliveryModeFlag: UInt16 = 0x1000

    /// A class and method id pair, as one value for switching on.
    static func methodKey(_ classID: UInt16, _ methodID: UInt16) -> UInt32 {
        UInt32(classID) << 16 | UInt32(methodID)
    }

    /// The bytes of one message (basic.publish method frame, content header, body frames) on `channel`,
    /// with `body` split at `frameMax`. The tool writes the same message many times per batch, so it
    /// is built once per batch.
    static func publishFrames(
        channel: UInt16, routingKey: String, persistent: Bool, body: [UInt8], frameMax: Int
    ) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeAMQPMethod(channel: channel, classID: basicClass, methodID: 40) { arguments in
            arguments.writeInteger(UInt16(0))  // reserved (ticket)
            arguments.writeAMQPShortString("")  // the default exchange: the routing key names the queue
            arguments.writeAMQPShortString(routingKey)
            arguments.writeInteger(UInt8(0))  // mandatory, immediate: off
        }
        buffer.writeAMQPFrame(type: headerType, channel: channel) { header in
            header.writeInteger(basicClass)
            header.writeInteger(UInt16(0))  // weight
            header.writeInteger(UInt64(body.count))
            header.writeInteger(persistent ? deliveryModeFlag : 0)
            if persistent { header.writeInteger(UInt8(2)) }
        }
        let chunk = max(1, frameMax - overhead)
        var offset = 0
        while offset < body.count {
            let end = min(body.count, offset + chunk)
            buffer.writeAMQPFrame(type: bodyType, channel: channel) { $0.writeBytes(body[offset..<end]) }
            offset = end
        }
        return Array(buffer.readableBytesView)
    }

    /// One whole frame from the front of `buffer` (type, channel, payload slice), or nil when more bytes
    /// are needed. Throws when the frame is larger than `limit` or does not end with the frame-end octet.
    static func nextFrame(_ buffer: inout ByteBuffer, limit: Int) throws -> (UInt8, UInt16, ByteBuffer)? {
        let start = buffer.readerIndex
        guard let type = buffer.getInteger(at: start, as: UInt8.self),
            let channel = buffer.getInteger(at: start + 1, as: UInt16.self),
            let size = buffer.getInteger(at: start + 3, as: UInt32.self)
        else { return nil }
        guard Int(size) + overhead <= limit else { throw AMQPClientError("frame of \(size) bytes exceeds \(limit)") }
        guard buffer.readableBytes >= Int(size) + overhead else { return nil }
        guard buffer.getInteger(at: start + 7 + Int(size), as: UInt8.self) == frameEnd else {
            throw AMQPClientError("frame without frame-end")
        }
        buffer.moveReaderIndex(forwardBy: 7)
        let payload = buffer.readSlice(length: Int(size))!
        buffer.moveReaderIndex(forwardBy: 1)
        return (type, channel, payload)
    }
}

/// A protocol error the client detected, or the server's reason for closing.
struct AMQPClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension ByteBuffer {
    /// Writes one frame whose payload `body` writes; the size is patched in afterwards.
    mutating func writeAMQPFrame(type: UInt8, channel: UInt16, _ body: (inout ByteBuffer) -> Void) {
        writeInteger(type)
        writeInteger(channel)
        let sizeIndex = writerIndex
        writeInteger(UInt32(0))
        let payloadStart = writerIndex
        body(&self)
        setInteger(UInt32(writerIndex - payloadStart), at: sizeIndex)
        writeInteger(AMQPClientFrame.frameEnd)
    }

    /// Writes one method frame: class id, method id, then what `arguments` writes.
    mutating func writeAMQPMethod(
        channel: UInt16, classID: UInt16, methodID: UInt16, _ arguments: (inout ByteBuffer) -> Void = { _ in }
    ) {
        writeAMQPFrame(type: AMQPClientFrame.methodType, channel: channel) { payload in
            payload.writeInteger(classID)
            payload.writeInteger(methodID)
            arguments(&payload)
        }
    }

    /// A short string: one length octet, at most 255 bytes (§4.2.5.3).
    mutating func writeAMQPShortString(_ string: String) {
        let bytes = string.utf8.prefix(255)
        writeInteger(UInt8(bytes.count))
        writeBytes(bytes)
    }

    /// A long string: a 32-bit length, then the bytes.
    mutating func writeAMQPLongString(_ bytes: [UInt8]) {
        writeInteger(UInt32(bytes.count))
        writeBytes(bytes)
    }

    /// A field table of string values (type `S`, long string).
    mutating func writeAMQPStringTable(_ fields: [(String, String)]) {
        let sizeIndex = writerIndex
        writeInteger(UInt32(0))
        let start = writerIndex
        for (name, value) in fields {
            writeAMQPShortString(name)
            writeInteger(UInt8(ascii: "S"))
            writeAMQPLongString(Array(value.utf8))
        }
        setInteger(UInt32(writerIndex - start), at: sizeIndex)
    }

    /// Reads a short string, or nil when the bytes run out.
    mutating func readAMQPShortString() -> String? {
        guard let length = readInteger(as: UInt8.self) else { return nil }
        return readString(length: Int(length))
    }
}
