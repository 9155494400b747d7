/// How an endpoint offers permessage-deflate (RFC 7692). An endpoint with none never accepts the
/// extension: an offer is ignored and a frame with RSV1 set closes with 1002, as before.
///
/// Both directions always run without context takeover: the answer always carries
/// `server_no_context_takeover` and `client_no_context_takeover` (RFC 7692 §7.1.1.1 and §7.1.1.2 let a
/// server add both to any offer it accepts). Each message is then compressed on its own, so
/// - a message fanned out to many subscribers is compressed once per window size and the compressed frame
///   is shared (DESIGN.md §4.4), where a context per connection would compress it once per subscriber;
/// - no connection keeps a deflate or inflate stream between messages (~300 KiB and ~40 KiB with zlib's
///   defaults): one of each per event loop serves every connection on it (`WebSocketDeflateCodec`).
/// The price is a lower ratio on streams of small, similar messages.
package struct WebSocketCompression: Sendable, Equatable {
    /// Messages shorter than this are sent uncompressed (RSV1 clear, RFC 7692 §6): below it deflate's
    /// block overhead eats the gain and the CPU is spent for nothing.
    package var minimumBytes: Int
    /// zlib level, 1 (fastest) to 9. 1: the server compresses every outgoing message, and level 1 keeps
    /// most of the ratio of level 6 on JSON at a fraction of the CPU (gorilla/websocket's default too).
    package var level: Int32

    package init(minimumBytes: Int = 128, level: Int32 = 1) {
        self.minimumBytes = minimumBytes
        self.level = level
    }
}
