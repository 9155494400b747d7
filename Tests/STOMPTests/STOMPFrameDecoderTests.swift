import NIOCore
import STOMPWire
import Testing

@Suite struct STOMPFrameDecoderTests {
    @Test func placeholder() {}
}
