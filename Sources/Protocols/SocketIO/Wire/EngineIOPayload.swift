import BusCore
package import NIOCore

/// The HTTP long-polling payload of Engine.IO v4: packets separated by the record separator `\x1e`;
/// a binary packet is `b` followed by its base64.
package enum EngineIOPayload {
    /// The separator between packets.
    package static let separator: UInt8 = 0x1E

    /// Decodes a POST body into packets, checking `limits` first.
    package static func decode(_ body: ByteBuffer, limits: EngineIOLimits) throws(EngineIOError) -> [EngineIOPacket] {
        guard body.readableBytes <= limits.maxPayload else { throw .payloadTooLarge }
        var packets: [EngineIOPacket] = []
        var rest = body
        while true {
            let end = rest.readableBytesView.firstIndex(of: separator)
            let length = end.map { $0 - rest.readerIndex } ?? rest.readableBytes
            let piece = rest.readSlice(length: length)!
            guard packets.count < limits.maxPacketsPerPayload else { throw .payloadTooLarge }
            packets.append(try decodePacket(piece))
            guard end != nil else { break }
            rest.moveReaderIndex(forwardBy: 1)
        }
        return packets
    }

    /// One packet of a payload: `b<base64>` or a text packet.
    static func decodePacket(_ piece: ByteBuffer) throws(EngineIOError) -> EngineIOPacket {
        if piece.getInteger(at: piece.readerIndex, as: UInt8.self) == UInt8(ascii: "b") {
            let text = String(buffer: piece.getSlice(at: piece.readerIndex + 1, length: piece.readableBytes - 1)!)
            guard let bytes = Base64.decode(text) else { throw .invalidPacket("invalid base64") }
            return .binary(ByteBuffer(bytes: bytes))
        }
        return try EngineIOPacket.decodeText(piece)
    }

    /// Encodes packets as one payload.
    package static func encode(_ packets: some Sequence<EngineIOPacket>) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(packets, into: &buffer)
        return buffer
    }

    /// Appends packets as one payload to `buffer`.
    package static func encode(_ packets: some Sequence<EngineIOPacket>, into buffer: inout ByteBuffer) {
        var first = true
        for packet in packets {
            if !first { buffer.writeInteger(separator) }
            first = false
            packet.writeText(into: &buffer)
        }
    }
}
