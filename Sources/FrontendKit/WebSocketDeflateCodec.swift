import CompressNIO
package import NIOCore
import NIOPosix

/// The zlib streams permessage-deflate runs on, one set per thread: with no context takeover in either
/// direction (`WebSocketCompression`) every message is compressed and inflated on its own, so the streams
/// are reset after each message and every connection on an event loop can share them. A connection then
/// holds no compression state at all, and a message fanned out on a loop is compressed there once.
/// Confined to its thread by `current` (hence `@unchecked Sendable`).
package final class WebSocketDeflateCodec: @unchecked Sendable {
    private static let perThread = ThreadSpecificVariable<WebSocketDeflateCodec>()

    /// The calling thread's codec, made on first use.
    package static var current: WebSocketDeflateCodec {
        if let codec = perThread.currentValue { return codec }
        let codec = WebSocketDeflateCodec()
        perThread.currentValue = codec
        return codec
    }

    /// Deflate streams by window bits and level (few: a server uses one level, clients rarely limit the window).
    private var compressors: [Int: ZlibCompressor] = [:]
    private var decompressor: ZlibDecompressor?

    /// RFC 7692 §7.2.1: a compressed message is a deflate stream flushed with an empty stored block
    /// whose last four bytes, 00 00 ff ff, are removed (and put back before inflating, §7.2.2).
    static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    /// `payload` compressed as one message, after `headroom` bytes left free for a frame header (the
    /// reader index points past them). `windowBits` is the negotiated `server_max_window_bits`; zlib
    /// cannot deflate raw streams with a 256-byte window, so 8 runs with 9, whose matches still reach
    /// back at most 250 bytes (zlib keeps 262 bytes of look-ahead), within what the peer can inflate.
    package func compress(
        _ payload: ByteBuffer, windowBits: Int, level: Int32, headroom: Int, allocator: ByteBufferAllocator
    ) throws -> ByteBuffer {
        let window = Int32(max(9, min(15, windowBits)))
        let key = Int(window) << 4 | Int(level)
        let compressor: ZlibCompressor
        if let existing = compressors[key] {
            compressor = existing
        } else {
            compressor = try ZlibCompressor(
                algorithm: .deflate, configuration: ZlibConfiguration(windowSize: window, compressionLevel: level))
            compressors[key] = compressor
        }
        // Each message starts from an empty window: no context takeover (`server_no_context_takeover`).
        defer { try? compressor.reset() }
        var input = payload
        var output = allocator.buffer(capacity: headroom + compressor.maxSize(from: input))
        output.moveWriterIndex(forwardBy: headroom)
        output.moveReaderIndex(forwardBy: headroom)
        try compressor.deflate(from: &input, to: &output, flush: .sync)
        guard input.readableBytes == 0, output.readableBytes >= 4 else { throw CompressNIOError.bufferOverflow }
        output.moveWriterIndex(to: output.writerIndex - 4)
        return output
    }

    /// The message a compressed `payload` carries, at most `maxBytes` long: a longer one (a decompression
    /// bomb included) stops inflating at `maxBytes + 1` and is refused as `messageTooLarge` (1009); bytes
    /// that are not a deflate stream are `invalidCompressedData` (1007).
    package func decompress(
        _ payload: ByteBuffer, maxBytes: Int, allocator: ByteBufferAllocator
    ) throws(WebSocketViolation) -> ByteBuffer {
        let decompressor: ZlibDecompressor
        if let existing = self.decompressor {
            decompressor = existing
        } else {
            // 15: the largest window inflates whatever window the client compressed with.
            guard let made = try? ZlibDecompressor(algorithm: .deflate, windowSize: 15) else {
                throw .invalidCompressedData
            }
            self.decompressor = made
            decompressor = made
        }
        // Each message is inflated on its own (`client_no_context_takeover`).
        defer { try? decompressor.reset() }
        var input = allocator.buffer(capacity: payload.readableBytes + 4)
        input.writeImmutableBuffer(payload)
        input.writeBytes(Self.tail)
        let limit = maxBytes + 1
        var output = allocator.buffer(capacity: min(limit, max(256, payload.readableBytes * 4)))
        while true {
            if output.writableBytes == 0 {
                guard output.capacity < limit else { throw .messageTooLarge }
                output.reserveCapacity(min(limit, output.capacity * 2))
            }
            do {
                try decompressor.inflate(from: &input, to: &output)
                // Z_OK with room left in the output: all input taken, all output produced.
                break
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // The output filled up; there may be more to come.
                if output.readableBytes > maxBytes { throw .messageTooLarge }
                continue
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                // No progress possible without more input: the message is complete.
                break
            } catch {
                throw .invalidCompressedData
            }
        }
        if output.readableBytes > maxBytes { throw .messageTooLarge }
        return output
    }
}
