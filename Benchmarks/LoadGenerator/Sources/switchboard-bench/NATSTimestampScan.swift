import Foundation
import NIOCore

/// The load generator's NATS reader: one pass over the readable bytes that consumes every complete control
/// line and `MSG` (with its payload), hands each payload's send timestamp to `delivered` (with one receive
/// time per pass, taken at the first timestamped payload) and returns the control lines, in order, for
/// the caller's handshake and `PING`/`PONG` logic. An incomplete operation stays in `buffer`.
enum NATSTimestampScan {
    static func consume(
        _ buffer: inout ByteBuffer, delivered: (_ sentAt: UInt64, _ receivedAt: UInt64) -> Void
    ) -> [String] {
        var controlLines: [String] = []
        let consumed = buffer.withUnsafeReadableBytes { bytes -> Int in
            var offset = 0
            var receivedAt: UInt64 = 0
            while offset < bytes.count {
                guard let found = memchr(bytes.baseAddress! + offset, 10, bytes.count - offset) else { break }
                let lineEnd = bytes.baseAddress!.distance(to: UnsafeRawPointer(found))
                guard bytes[offset] == UInt8(ascii: "M") else {
                    controlLines.append(
                        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<lineEnd]), as: UTF8.self))
                    offset = lineEnd + 1
                    continue
                }
                // MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n
                var size = 0
                var multiplier = 1
                var index = lineEnd - 2  // skip \r
                while index > offset, bytes[index] != UInt8(ascii: " ") {
                    size += Int(bytes[index] &- UInt8(ascii: "0")) &* multiplier
                    multiplier &*= 10
                    index -= 1
                }
                let payloadStart = lineEnd + 1
                guard bytes.count - payloadStart >= size + 2 else { break }
                if let sentAt = BenchPayload.timestamp(
                    ofPayload: UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<payloadStart + size]))
                {
                    if receivedAt == 0 { receivedAt = BenchClock.now() }
                    delivered(sentAt, receivedAt)
                }
                offset = payloadStart + size + 2
            }
            return offset
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        return controlLines
    }
}
