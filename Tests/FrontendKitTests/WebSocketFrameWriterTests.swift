import NIOCore
import NIOWebSocket
import Testing

@testable import FrontendKit

/// `WebSocketFrameWriter.textFrame`: the header set in place before the payload is the one `writeHeader`
/// writes, at each length form's edges (RFC 6455 §5.2: 7-bit, 16-bit and 64-bit lengths).
@Suite struct WebSocketFrameWriterTests {
    @Test(arguments: [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
    func aTextFrameIsItsHeaderThenItsPayload(length: Int) {
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: length)
        let frame = WebSocketFrameWriter.textFrame(capacity: 16) { $0.writeBytes(payload) }
        var expected = ByteBuffer()
        WebSocketFrameWriter.writeHeader(.text, length: length, into: &expected)
        expected.writeBytes(payload)
        #expect(frame == expected)
    }
}
