import NIOCore

/// A minimal Server-Sent Events client for Switchboard's `/sse` (a subscriber only: SSE streams are
/// one-way, so the `sse` protocol's publishers speak the native WebSocket, see `BenchProtocolKind`).
///
/// It sends `GET /sse?channel=C` and, once the `200` head arrives (the server flushes the head only
/// after the stream is subscribed), reports the link ready and subscribed. The body is chunked
/// (RFC 9112 §7.1); each chunk is scanned in place for the payload's timestamp, so an event costs no
/// allocation. Keep-alive comments carry no timestamp and are skipped.
final class SSEClientHandler: ChannelInboundHandler, BenchLink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingHead
        case streaming
        case closed
    }

    /// Longest response head accepted.
    private static let maximumHeadBytes = 16_384

    private var state = State.awaitingHead
    private let target: BenchTarget
    private let role: any BenchRole
    private var context: ChannelHandlerContext?
    private var cumulation = ReadCumulation()

    init(target: BenchTarget, role: any BenchRole) {
        self.target = target
        self.role = role
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendRequest(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        self.context = nil
        role.linkClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        role.errorReceived(self, message: "\(error)", answersRequest: false)
        state = .closed
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        cumulation.prepend(to: &buffer, allocator: context.channel.allocator)
        do {
            try process(&buffer)
        } catch {
            errorCaught(context: context, error: error)
            return
        }
        cumulation.keep(buffer)
    }

    private func sendRequest(context: ChannelHandlerContext) {
        guard state == .awaitingHead, context.channel.isActive else { return }
        let request =
            "GET /sse?channel=\(target.channel) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\n"
            + "Accept: text/event-stream\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    // MARK: - Reading

    private func process(_ buffer: inout ByteBuffer) throws {
        if state == .awaitingHead {
            let view = buffer.readableBytesView
            guard let end = view.firstRange(of: [13, 10, 13, 10]) else {
                if view.count > Self.maximumHeadBytes { throw SSEClientError.headTooLarge }
                return
            }
            let statusLine = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
                .prefix(while: { $0 != "\r\n" })  // CRLF is one Character
            guard statusLine.hasPrefix("HTTP/1.1 200") else {
                throw SSEClientError.refused(statusLine: String(statusLine))
            }
            buffer.moveReaderIndex(to: end.upperBound)
            state = .streaming
            role.linkReady(self)
        }
        var receivedAt: UInt64 = 0
        while state == .streaming {
            // A chunk: size in hex, CRLF, data, CRLF. Parsed in place, without allocating.
            let parsed = try buffer.withUnsafeReadableBytes { bytes -> Int? in
                var index = 0
                var size = 0
                while index < bytes.count, bytes[index] != 13 {
                    guard let digit = Self.hexValue(bytes[index]), size < 1 << 24 else { throw SSEClientError.badChunk }
                    size = size &* 16 &+ digit
                    index += 1
                }
                let headerLength = index + 2
                guard index > 0, headerLength + size + 2 <= bytes.count else { return nil }
                if size > 0 {
                    scanEvents(
                        UnsafeRawBufferPointer(rebasing: bytes[headerLength..<(headerLength + size)]), &receivedAt)
                }
                return size == 0 ? 0 : headerLength + size + 2
            }
            guard let consumed = parsed else { return }
            if consumed == 0 {  // the last chunk: the server ended the stream
                state = .closed
                context?.close(promise: nil)
                return
            }
            buffer.moveReaderIndex(forwardBy: consumed)
        }
    }

    /// Reports a delivery for every benchmark payload in `chunk`, in one pass: the server writes one
    /// event per chunk, but a chunk with several (a resume) reports each.
    private func scanEvents(_ chunk: UnsafeRawBufferPointer, _ receivedAt: inout UInt64) {
        let length = BenchPayload.marker.count + BenchPayload.digitCount
        var index = 0
        while let marker = Self.firstMarker(in: chunk, from: index), marker + length <= chunk.count {
            let payload = UnsafeRawBufferPointer(rebasing: chunk[marker..<(marker + length)])
            if let sentAt = BenchPayload.timestamp(in: payload) {
                if receivedAt == 0 { receivedAt = BenchClock.now() }
                role.deliveryReceived(sentAt: sentAt, receivedAt: receivedAt)
            }
            index = marker + length
        }
    }

    /// Where the next `ts:` marker starts at or after `start`.
    private static func firstMarker(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        while index + 2 < bytes.count {
            if bytes[index] == UInt8(ascii: "t") && bytes[index + 1] == UInt8(ascii: "s")
                && bytes[index + 2] == UInt8(ascii: ":")
            {
                return index
            }
            index += 1
        }
        return nil
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    // MARK: - BenchLink

    /// The stream is subscribed when its head arrives; confirm at once.
    func sendSubscribe(channel: String) {
        role.replyReceived(self)
    }

    func writePublishes(count: Int, payloadSize: Int, now: UInt64, acknowledged: Bool) {
        role.errorReceived(self, message: "an SSE stream cannot publish", answersRequest: acknowledged)
    }

    func flush() {}

    func close() {
        state = .closed
        context?.close(promise: nil)
    }
}

enum SSEClientError: Error, CustomStringConvertible {
    case headTooLarge
    case refused(statusLine: String)
    case badChunk

    var description: String {
        switch self {
        case .headTooLarge: return "SSE response head too large"
        case .refused(let statusLine): return "SSE stream refused: \(statusLine)"
        case .badChunk: return "malformed chunk in the SSE body"
        }
    }
}
