import NIOCore

/// The client side of the HTTP/1.1 upgrade to WebSocket (RFC 6455 §4.1), shared by the benchmark's
/// WebSocket clients. The `Sec-WebSocket-Accept` is not verified: the server under test is trusted.
enum WebSocketUpgrade {
    /// The upgrade request for `pathAndQuery`, offering `subprotocol` when given.
    static func request(pathAndQuery: String, target: BenchTarget, subprotocol: String?) -> String {
        let key = (0..<16).map { _ in UInt8.random(in: 0...255) }
        return "GET \(pathAndQuery) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: \(Base64.encode(key))\r\nSec-WebSocket-Version: 13\r\n"
            + (subprotocol.map { "Sec-WebSocket-Protocol: \($0)\r\n" } ?? "") + "\r\n"
    }

    /// Consumes the response head from `buffer`: false while it is incomplete, true once a `101` arrived;
    /// throws for any other status or a head over ``WebSocketFrameParser/maximumUpgradeResponseBytes``.
    static func consumeResponse(_ buffer: inout ByteBuffer) throws -> Bool {
        let view = buffer.readableBytesView
        guard let end = view.firstRange(of: [13, 10, 13, 10]) else {
            if view.count > WebSocketFrameParser.maximumUpgradeResponseBytes {
                throw WebSocketClientError.upgradeResponseTooLarge
            }
            return false
        }
        let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
        let statusLine = head.prefix(while: { $0 != "\r\n" })  // CRLF is one Character
        guard statusLine.hasPrefix("HTTP/1.1 101") else {
            throw WebSocketClientError.upgradeRefused(statusLine: String(statusLine))
        }
        buffer.moveReaderIndex(to: end.upperBound)
        return true
    }
}
