import AMQPWire
import NIOCore

/// Builders for expected bytes, written out from the spec's field layouts (§4.2.5: big-endian integers,
/// octet-length short strings, 32-bit-length long strings and tables).
enum AMQPBytes {
    static func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    static func u32(_ value: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8((value >> ($0 * 8)) & 0xFF) } }
    static func u64(_ value: UInt64) -> [UInt8] { (0..<8).reversed().map { UInt8((value >> ($0 * 8)) & 0xFF) } }
    /// Short string: octet length, bytes.
    static func ss(_ text: String) -> [UInt8] { [UInt8(text.utf8.count)] + Array(text.utf8) }
    /// Long string: 32-bit length, bytes.
    static func ls(_ bytes: [UInt8]) -> [UInt8] { u32(UInt32(bytes.count)) + bytes }
    static func ls(_ text: String) -> [UInt8] { ls(Array(text.utf8)) }
    /// A table: 32-bit length, then its already-encoded fields.
    static func table(_ fields: [UInt8]) -> [UInt8] { u32(UInt32(fields.count)) + fields }
    /// A whole frame: type, channel, size, payload, frame-end 0xCE (§4.2.3).
    static func frame(_ type: UInt8, channel: UInt16, _ payload: [UInt8]) -> [UInt8] {
        [type] + u16(channel) + u32(UInt32(payload.count)) + payload + [0xCE]
    }
    /// A method frame: class id, method id, arguments (§4.2.4).
    static func method(channel: UInt16, _ classID: UInt16, _ methodID: UInt16, _ arguments: [UInt8]) -> [UInt8] {
        frame(1, channel: channel, u16(classID) + u16(methodID) + arguments)
    }

    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}

extension AMQPMethod {
    /// The method's frame as bytes.
    func frameBytes(channel: UInt16) -> [UInt8] { Array(frame(channel: channel).readableBytesView) }
}

/// Decodes one whole method frame from `bytes`.
func decodeMethodFrame(_ bytes: [UInt8], limits: AMQPLimits = AMQPLimits()) throws -> (UInt16, AMQPMethod) {
    var buffer = ByteBuffer(bytes: bytes)
    guard let frame = try AMQPFrameDecoder.decodeFrame(&buffer, frameMax: limits.frameMax) else {
        throw AMQPError.malformedFrame("incomplete frame in a test")
    }
    precondition(buffer.readableBytes == 0 && frame.type == .method)
    return (frame.channel, try AMQPMethod.decode(frame.payload, limits: limits))
}
