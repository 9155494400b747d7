package import NIOCore

/// How a connection's reads may split a byte stream: one byte at a time, or chunks of random sizes.
extension Array where Element == UInt8 {
    /// One read per byte: the harshest split a decoder must survive.
    package var byteByByte: [[UInt8]] { map { [$0] } }

    /// Reads of random sizes within `sizes`, in order, covering every byte.
    package func randomReads(sizes: ClosedRange<Int>, using random: inout some RandomNumberGenerator) -> [[UInt8]] {
        var reads: [[UInt8]] = []
        var start = 0
        while start < count {
            let end = Swift.min(count, start + Int.random(in: sizes, using: &random))
            reads.append(Array(self[start..<end]))
            start = end
        }
        return reads
    }
}

/// Feeds reads to a decoder as a connection does: each read is appended to what the last one left
/// unread, and values are decoded until the decoder asks for more bytes (returns nil) or throws.
package enum ReadFeeder {
    /// What the reads decoded to.
    package struct Decoded<Value, Failure: Error> {
        /// Every value decoded, in order.
        package var values: [Value] = []
        /// The error that stopped decoding, if any.
        package var error: Failure?
        /// Whether a decoder that asked for more bytes had moved the reader index: it would then lose or
        /// repeat bytes when the rest arrives. Decoding stops there.
        package var needMoreMovedTheReaderIndex = false
    }

    /// `decode` run over `reads` as they arrive.
    package static func decode<Value, Failure: Error>(
        _ reads: [ByteBuffer], _ decode: (inout ByteBuffer) throws(Failure) -> Value?
    ) -> Decoded<Value, Failure> {
        var result = Decoded<Value, Failure>()
        var unread = ByteBuffer()
        for var read in reads {
            unread.writeBuffer(&read)
            do throws(Failure) {
                while true {
                    let before = unread.readerIndex
                    guard let value = try decode(&unread) else {
                        guard unread.readerIndex == before else {
                            result.needMoreMovedTheReaderIndex = true
                            return result
                        }
                        break
                    }
                    result.values.append(value)
                }
            } catch {
                result.error = error
                return result
            }
            unread.discardReadBytes()
        }
        return result
    }

    /// `decode(_:_:)` for reads given as byte arrays.
    package static func decode<Value, Failure: Error>(
        _ reads: [[UInt8]], _ decode: (inout ByteBuffer) throws(Failure) -> Value?
    ) -> Decoded<Value, Failure> {
        Self.decode(reads.map { ByteBuffer(bytes: $0) }, decode)
    }
}
