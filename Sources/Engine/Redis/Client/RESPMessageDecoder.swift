import NIOCore
import RedisWire

/// The RESP decoder as a NIO inbound decoder: bytes in, one `RESPValue` per reply or push out.
struct RESPMessageDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RESPValue

    let decoder: RESPDecoder

    mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        try decoder.decode(&buffer)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try decoder.decode(&buffer)
    }
}
