import NIOCore

/// The header of one WebSocket frame as it arrived from the server (RFC 6455 §5.2).
struct WebSocketFrameHeader: Equatable {
    /// FIN bit: this frame ends a message.
    var fin: Bool
    /// The opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong).
    var opcode: UInt8
    /// Bytes taken by the header itself (2, 4 or 10 for unmasked server frames).
    var headerLength: Int
    /// Bytes of payload that follow the header.
    var payloadLength: Int
}

/// Errors the client codec raises for frames it will not accept.
enum WebSocketClientError: Error, CustomStringConvertible {
    /// The server answered the upgrade with something other than 101.
    case upgradeRefused(statusLine: String)
    /// The upgrade response headers exceeded ``WebSocketFrameParser/maximumUpgradeResponseBytes``.
    case upgradeResponseTooLarge
    /// The server masked a frame, which RFC 6455 §5.1 forbids.
    case maskedServerFrame
    /// A frame longer than ``WebSocketFrameParser/maximumFrameBytes``.
    case frameTooLarge(Int)

    var description: String {
        switch self {
        case .upgradeRefused(let line): return "upgrade refused: \(line)"
        case .upgradeResponseTooLarge: return "upgrade response too large"
        case .maskedServerFrame: return "server sent a masked frame"
        case .frameTooLarge(let length): return "frame of \(length) bytes is too large"
        }
    }
}

/// A pure step parser for server-to-client frames: it reads a header at the buffer's reader
/// index without moving it, and returns nil while more bytes are needed.
enum WebSocketFrameParser {
    /// Largest frame the load generator accepts; benchmark frames are far smaller.
    static let maximumFrameBytes = 16 * 1024 * 1024
    /// Largest HTTP upgrade response accepted before the blank line.
    static let maximumUpgradeResponseBytes = 16 * 1024

    /// Parses the frame header at `buffer.readerIndex`; nil when it is not complete yet.
    @inline(__always)
    static func parseHeader(_ buffer: ByteBuffer) throws -> WebSocketFrameHeader? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self),
            let second = buffer.getInteger(at: start + 1, as: UInt8.self)
        else { return nil }
        // RFC 6455 §5.1: a client MUST close the connection if it sees a masked frame.
        guard second & 0x80 == 0 else { throw WebSocketClientError.maskedServerFrame }
        let fin = first & 0x80 != 0
        let opcode = first & 0x0F
        switch second & 0x7F {
        case 126:
            guard let length = buffer.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            return WebSocketFrameHeader(fin: fin, opcode: opcode, headerLength: 4, payloadLength: Int(length))
        case 127:
            guard let length = buffer.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            guard length <= UInt64(maximumFrameBytes) else {
                throw WebSocketClientError.frameTooLarge(Int(clamping: length))
            }
            return WebSocketFrameHeader(fin: fin, opcode: opcode, headerLength: 10, payloadLength: Int(length))
        case let length:
            return WebSocketFrameHeader(fin: fin, opcode: opcode, headerLength: 2, payloadLength: Int(length))
        }
    }

    /// Writes a client frame header (FIN set, masked, RFC 6455 §5.2) for a payload of `length`.
    @inline(__always)
    static func writeClientHeader(opcode: UInt8, length: Int, maskKey: UInt32, into buffer: inout ByteBuffer) {
        buffer.writeInteger(0x80 | opcode, as: UInt8.self)
        if length < 126 {
            buffer.writeInteger(0x80 | UInt8(length), as: UInt8.self)
        } else if length <= Int(UInt16.max) {
            buffer.writeInteger(0x80 | 126, as: UInt8.self)
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(0x80 | 127, as: UInt8.self)
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeInteger(maskKey)
    }

    /// XORs `count` bytes at `offset` with the big-endian `maskKey` (RFC 6455 §5.3), 8 bytes at a time.
    @inline(__always)
    static func mask(_ bytes: UnsafeMutableRawBufferPointer, offset: Int, count: Int, maskKey: UInt32) {
        let keyBytes = maskKey.bigEndian
        let wide = UInt64(keyBytes) | (UInt64(keyBytes) << 32)
        var index = 0
        while index + 8 <= count {
            let word = bytes.loadUnaligned(fromByteOffset: offset + index, as: UInt64.self)
            bytes.storeBytes(of: word ^ wide, toByteOffset: offset + index, as: UInt64.self)
            index += 8
        }
        withUnsafeBytes(of: keyBytes) { key in
            while index < count {
                bytes[offset + index] ^= key[index & 3]
                index += 1
            }
        }
    }
}
