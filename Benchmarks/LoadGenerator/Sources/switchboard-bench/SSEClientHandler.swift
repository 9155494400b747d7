import NIOCore

/// A minimal Server-Sent Events client for Switchboard's `/sse` (a subscriber only: SSE streams are
/// one-way, so the `sse` protocol's publishers speak the native WebSocket, see `BenchProtocolKind`).
///
/// It sends `GET /sse?channel=C` and, once the `200` head arrives (the server flushes the head only
/// after the stream is subscribed), reports the link ready and subscribed. The body is chunked
/// (RFC 9112 §7.1); each chunk is scanned in place for the payload's timestamp, so an event costs no
/// allocation. The server writes one event per chunk; a chunk with several events (a resume) is split
/// at blank lines. Keep-alive comments carry no timestamp and are skipped.
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
                .prefix(while: { $0 != "\r" })
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

    /// Reports a delivery for every event in `chunk` that carries a benchmark payload.
    private func scanEvents(_ chunk: UnsafeRawBufferPointer, _ receivedAt: inout UInt64) {
        var start = 0
        var index = 0
        while index < chunk.count {
            if chunk[index] == UInt8(ascii: "\n"), index + 1 < chunk.count, chunk[index + 1] == UInt8(ascii: "\n") {
                report(UnsafeRawBufferPointer(rebasing: chunk[start..<index]), &receivedAt)
                start = index + 2
                index += 1
            }
            index += 1
        }
        if start < chunk.count { report(UnsafeRawBufferPointer(rebasing: chunk[start...]), &receivedAt) }
    }

    private func report(_ event: UnsafeRawBufferPointer, _ receivedAt: inout UInt64) {
        guard let sentAt = BenchPayload.timestamp(in: event) else { return }
        if receivedAt == 0 { receivedAt = BenchClock.now() }
        role.deliveryReceived(sentAt: sentAt, receivedAt: receivedAt)
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
