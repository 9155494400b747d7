import FrontendKit
import NIOCore
import SwitchboardTestSupport
import Testing

/// Inbound cumulation for byte-stream protocols: partial packets wait for the next read, held input waits
/// for a release, and the consumed front never makes the buffer grow.
@Suite struct InboundBufferTests {
    /// A toy framing for the tests: one length byte, then that many bytes.
    private static func decode(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            buffer.readableBytes >= 1 + Int(length)
        else { return nil }
        buffer.moveReaderIndex(forwardBy: 1)
        return buffer.readString(length: Int(length))
    }

    private static func frames(_ texts: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for text in texts {
            buffer.writeInteger(UInt8(text.utf8.count))
            buffer.writeString(text)
        }
        return buffer
    }

    /// The decode loop every handler runs: take, decode one, keep the rest before acting.
    private static func drain(_ inbound: inout InboundBuffer, act: (String, inout InboundBuffer) -> Void = { _, _ in })
        -> [String]
    {
        var decoded: [String] = []
        while var buffer = inbound.next() {
            let frame = decode(&buffer)
            inbound.keep(buffer)
            guard let frame else { break }
            decoded.append(frame)
            act(frame, &inbound)
        }
        return decoded
    }

    @Test func wholeFramesInOneReadAreDecodedAndNothingWaits() {
        var inbound = InboundBuffer()
        var read = Self.frames(["a", "bc", "def"])
        inbound.append(&read)
        #expect(Self.drain(&inbound) == ["a", "bc", "def"])
        #expect(inbound.readableBytes == 0)
        #expect(inbound.next() == nil)
    }

    @Test func aFrameSplitAcrossReadsWaitsForItsRest() {
        var inbound = InboundBuffer()
        let all = Self.frames(["hello", "world"])
        var first = all.getSlice(at: 0, length: 9)!
        var second = all.getSlice(at: 9, length: all.readableBytes - 9)!
        inbound.append(&first)
        #expect(Self.drain(&inbound) == ["hello"])
        #expect(inbound.readableBytes == 3)
        inbound.append(&second)
        #expect(Self.drain(&inbound) == ["world"])
        #expect(inbound.readableBytes == 0)
    }

    @Test func heldInputWaitsInOrderUntilReleased() {
        var inbound = InboundBuffer()
        var read = Self.frames(["connect", "publish-1"])
        inbound.append(&read)
        // Acting on "connect" holds input (a password is being checked).
        let before = Self.drain(&inbound) { frame, inbound in
            if frame == "connect" { inbound.hold() }
        }
        #expect(before == ["connect"])
        #expect(inbound.isHeld)
        var later = Self.frames(["publish-2"])
        inbound.append(&later)
        #expect(inbound.next() == nil)
        inbound.release()
        #expect(Self.drain(&inbound) == ["publish-1", "publish-2"])
    }

    @Test func dripFedBytesDecodeTheSameAsOneRead() {
        var random = SplitMix(state: 13)
        let texts = (0..<200).map { index in String(repeating: "x", count: Int(random.next() % 40)) + "\(index)" }
        let all = Self.frames(texts)
        var inbound = InboundBuffer()
        var decoded: [String] = []
        var offset = 0
        while offset < all.readableBytes {
            let length = min(Int(random.next() % 17) + 1, all.readableBytes - offset)
            var read = all.getSlice(at: offset, length: length)!
            offset += length
            inbound.append(&read)
            decoded += Self.drain(&inbound)
            // The consumed front is dropped on append: what waits is never more than a partial frame.
            #expect(inbound.readableBytes < 256)
        }
        #expect(decoded == texts)
    }

    @Test func removeAllDropsWhatWaits() {
        var inbound = InboundBuffer()
        var read = Self.frames(["abc"]).getSlice(at: 0, length: 2)!
        inbound.append(&read)
        inbound.removeAll()
        #expect(inbound.readableBytes == 0)
        #expect(inbound.next() == nil)
    }
}
