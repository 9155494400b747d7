import FrontendKit
import NIOCore
import Testing

/// `ConnectionReceiveAllocator` sizes receive buffers as NIO's adaptive allocator does, in less room.
@Suite struct ConnectionReceiveAllocatorTests {
    @Test func itGrowsAndShrinksAsNIOsAdaptiveAllocatorDoes() {
        var ours = ConnectionReceiveAllocator(minimum: 64, initial: 256, maximum: 65_536)
        var nio = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65_536)
        // Full reads, half reads, tiny reads, a read at the maximum, in an order that crosses every rule.
        let reads = [256, 512, 1024, 10, 10, 10, 10, 10, 10, 10, 10, 2048, 65_536, 65_536, 65_536, 0, 0, 100, 64]
        for read in reads {
            #expect(ours.record(actualReadBytes: read) == nio.record(actualReadBytes: read))
            #expect(ours.nextBufferSize() == nio.nextBufferSize())
        }
    }

    @Test func itFitsInlineInAnExistential() {
        // Three words is an existential's inline buffer: anything larger is boxed per channel.
        #expect(MemoryLayout<ConnectionReceiveAllocator>.size <= 3 * MemoryLayout<Int>.size)
    }

    @Test func boundsRoundToPowersOfTwo() {
        let allocator = ConnectionReceiveAllocator(minimum: 100, initial: 300, maximum: 1000)
        #expect(allocator.nextBufferSize() == 256)
        #expect(allocator.buffer(allocator: ByteBufferAllocator()).capacity >= 256)
    }
}
