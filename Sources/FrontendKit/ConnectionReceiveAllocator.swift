package import NIOCore

/// The receive-buffer sizes of a client connection: NIO's adaptive policy (start small, double after a
/// read that filled the buffer, halve after two reads that used at most half of it), in 12 bytes.
///
/// NIO keeps a channel's allocator as an existential; `AdaptiveRecvByteBufferAllocator` (five words)
/// does not fit its three-word inline buffer, so every channel held it in a box of its own, copied out of
/// the bootstrap's shared box on the first read: 49 B plus a malloc chunk per idle connection (issue 25,
/// Benchmarks/analysis.md). This one fits inline.
package struct ConnectionReceiveAllocator: RecvByteBufferAllocator, Sendable {
    /// Bounds and current size, powers of two.
    private let minimum: UInt32
    private let maximum: UInt32
    private var next: UInt32
    private var decreaseNow = false

    /// `minimum` and `initial` round down, `maximum` up, to powers of two; at most 1 GiB.
    package init(minimum: Int, initial: Int, maximum: Int) {
        precondition(minimum > 0 && minimum <= initial && initial <= maximum && maximum <= 1 << 30)
        self.minimum = UInt32(minimum.previousPowerOfTwo)
        self.next = UInt32(initial.previousPowerOfTwo)
        self.maximum = UInt32(maximum.nextPowerOfTwo)
    }

    package func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(capacity: Int(next))
    }

    package func nextBufferSize() -> Int? {
        Int(next)
    }

    /// The same rule as NIO's `AdaptiveRecvByteBufferAllocator.record`; true when it grew.
    package mutating func record(actualReadBytes: Int) -> Bool {
        let lower = next >> 1
        if actualReadBytes <= Int(lower) && lower >= minimum {
            if decreaseNow {
                next = lower
                decreaseNow = false
            } else {
                decreaseNow = true
            }
            return false
        }
        decreaseNow = false
        if actualReadBytes >= Int(next), next << 1 <= maximum {
            next <<= 1
            return true
        }
        return false
    }
}

extension Int {
    fileprivate var previousPowerOfTwo: Int {
        self <= 1 ? 1 : 1 << (Int.bitWidth - 1 - leadingZeroBitCount)
    }

    fileprivate var nextPowerOfTwo: Int {
        self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
