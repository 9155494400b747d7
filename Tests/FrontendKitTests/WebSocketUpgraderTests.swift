import FrontendKit
import Testing

@Suite struct WebSocketUpgraderTests {
    /// RFC 6455 §1.3's worked example.
    @Test func acceptKeyMatchesTheRFCExample() {
        #expect(WebSocketUpgrader.accept(key: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }
}
