import NIOCore

/// A Socket.IO v5 subscriber over Engine.IO v4's HTTP long-polling transport, on one keep-alive
/// connection (the `socketio-polling` protocol; its publishers use ``SocketIOClientHandler``, since a
/// long-polling client's publishes would only measure POST round trips).
///
/// One request is in flight at a time: `GET <path>?EIO=4&transport=polling` opens the session (`0{"sid":…}`);
/// after every GET response the packets the client owes (`40`, the `subscribe` event, the `3` that answers
/// a ping) go out in one POST (`\x1e`-separated), and the next GET follows the POST's `ok` — or follows
/// the GET response at once when nothing is owed. The next GET is written *before* the response's
/// deliveries are reported, so a latency run's next publish finds the poll already on its way, as a
/// browser that re-polls immediately would. Responses must carry `Content-Length` (both Switchboard and
/// python-engineio send it); a chunked response is refused as unsupported.
final class SocketIOPollingClientHandler: ChannelInboundHandler, BenchLink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Which request is in flight.
    private enum State {
        /// The handshake GET (no `sid` yet).
        case handshaking
        /// A long-poll GET.
        case polling
        /// A POST of the packets the client owed.
        case posting
        /// The channel is closed or closing; nothing more is written.
        case closed
    }

    /// Longest response head accepted.
    static let maximumHeadBytes = 16_384
    /// Largest response body accepted (the server's `maxPayload` default is 1 MB).
    static let maximumBodyBytes = 16 * 1024 * 1024

    private var state = State.handshaking
    private let target: BenchTarget
    private let role: any BenchRole
    private var context: ChannelHandlerContext?
    private var cumulation = ReadCumulation()
    private var sid: String?
    private var connected = false
    /// Packets to send with the next POST.
    private var owed: [[UInt8]] = []
    private var nextAckID = 0

    init(target: BenchTarget, role: any BenchRole) {
        self.target = target
        self.role = role
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendGet(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendGet(context: context)
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
            while state != .closed, let body = try Self.parseResponse(&buffer) {
                try handleResponse(body, context: context)
            }
        } catch {
            errorCaught(context: context, error: error)
            return
        }
        cumulation.keep(buffer)
    }

    // MARK: - Reading

    /// Takes one complete `200` response off `buffer` and returns its body; nil while incomplete.
    static func parseResponse(_ buffer: inout ByteBuffer) throws -> ByteBuffer? {
        let view = buffer.readableBytesView
        guard let end = view.firstRange(of: [13, 10, 13, 10]) else {
            if view.count > maximumHeadBytes { throw SocketIOPollingClientError.headTooLarge }
            return nil
        }
        let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
        let lines = head.split(separator: "\r\n")  // CRLF is one Character
        let statusLine = lines.first.map(String.init) ?? ""
        var contentLength: Int?
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].lowercased()
            let value = String(parts[1].drop(while: { $0 == " " || $0 == "\t" }))
            if name == "content-length" { contentLength = Int(value) }
            if name == "transfer-encoding" && value.lowercased() != "identity" {
                throw SocketIOPollingClientError.unsupportedTransferEncoding(value)
            }
        }
        let headLength = end.upperBound - view.startIndex
        guard let length = contentLength, length >= 0, length <= maximumBodyBytes else {
            throw SocketIOPollingClientError.badContentLength(statusLine: statusLine)
        }
        guard buffer.readableBytes >= headLength + length else { return nil }
        // An error answers with a JSON body and a 4xx status: report the status and the body.
        guard statusLine.hasPrefix("HTTP/1.1 200") else {
            let body = buffer.getString(at: buffer.readerIndex + headLength, length: length) ?? ""
            throw SocketIOPollingClientError.refused(statusLine: statusLine, body: body)
        }
        let body = buffer.getSlice(at: buffer.readerIndex + headLength, length: length)!
        buffer.moveReaderIndex(forwardBy: headLength + length)
        return body
    }

    private func handleResponse(_ body: ByteBuffer, context: ChannelHandlerContext) throws {
        if state == .posting {
            // The POST's `ok`; what the server has for us comes with the next poll.
            state = .polling
            sendGet(context: context)
            return
        }
        let receivedAt = BenchClock.now()
        // Pass 1: the control packets (they decide what is owed), then the next request goes out…
        try forEachPacket(body) { packet in try handleControl(packet) }
        guard state != .closed else { return }
        if owed.isEmpty {
            state = .polling
            sendGet(context: context)
        } else {
            state = .posting
            sendPost(context: context)
        }
        // … pass 2: the deliveries, reported after the next request is on its way.
        try forEachPacket(body) { packet in
            guard SocketIOClientPackets.classify(packet) == .event, let sentAt = BenchPayload.timestamp(in: packet)
            else { return }
            role.deliveryReceived(sentAt: sentAt, receivedAt: receivedAt)
        }
    }

    /// Calls `body` with each `\x1e`-separated packet of a polling payload, in place.
    private func forEachPacket(_ payload: ByteBuffer, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try payload.withUnsafeReadableBytes { bytes in
            var start = 0
            while start <= bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != SocketIOClientPackets.recordSeparator { end += 1 }
                if end > start { try body(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) }
                start = end + 1
            }
        }
    }

    private func handleControl(_ packet: UnsafeRawBufferPointer) throws {
        switch SocketIOClientPackets.classify(packet) {
        case .open:
            guard sid == nil else { return }
            guard let value = SocketIOClientPackets.sessionID(inOpen: packet) else {
                throw SocketIOPollingClientError.noSessionID(String(decoding: packet, as: UTF8.self))
            }
            sid = value
            owed.append(SocketIOClientPackets.connect)
        case .connected:
            guard !connected else { return }
            connected = true
            role.linkReady(self)
        case .ping:
            owed.append(SocketIOClientPackets.pong)
        case .ack(let isError):
            if isError {
                role.errorReceived(self, message: String(decoding: packet, as: UTF8.self), answersRequest: true)
            } else {
                role.replyReceived(self)
            }
        case .connectError, .disconnected, .close:
            role.errorReceived(
                self, message: "socket.io: \(String(decoding: packet, as: UTF8.self))", answersRequest: false)
            state = .closed
            context?.close(promise: nil)
        case .event, .other:
            break
        }
    }

    // MARK: - Writing

    private var requestPath: String {
        "\(target.path)?\(SocketIOClientPackets.query(transport: "polling"))" + (sid.map { "&sid=\($0)" } ?? "")
    }

    private func sendGet(context: ChannelHandlerContext) {
        guard state != .closed, state != .posting, context.channel.isActive else { return }
        let request = "GET \(requestPath) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\nAccept: */*\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    private func sendPost(context: ChannelHandlerContext) {
        var body: [UInt8] = []
        for (index, packet) in owed.enumerated() {
            if index > 0 { body.append(SocketIOClientPackets.recordSeparator) }
            body += packet
        }
        owed.removeAll(keepingCapacity: true)
        let head =
            "POST \(requestPath) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\n"
            + "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: \(body.count)\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: head.utf8.count + body.count)
        buffer.writeString(head)
        buffer.writeBytes(body)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    // MARK: - BenchLink

    /// Queued for the POST that follows the current poll (the link is ready right after a response, so
    /// for the subscriber role it goes out at once).
    func sendSubscribe(channel: String) {
        nextAckID += 1
        owed.append(SocketIOClientPackets.subscribe(channel: channel, ackID: nextAckID))
    }

    func writePublishes(count: Int, payloadSize: Int, now: UInt64, acknowledged: Bool) {
        role.errorReceived(
            self, message: "the socketio-polling subscriber does not publish", answersRequest: acknowledged)
    }

    func flush() {}

    func close() {
        state = .closed
        context?.close(promise: nil)
    }
}

enum SocketIOPollingClientError: Error, CustomStringConvertible {
    case headTooLarge
    case badContentLength(statusLine: String)
    case unsupportedTransferEncoding(String)
    case refused(statusLine: String, body: String)
    case noSessionID(String)

    var description: String {
        switch self {
        case .headTooLarge: return "polling response head too large"
        case .badContentLength(let statusLine): return "polling response without a usable Content-Length: \(statusLine)"
        case .unsupportedTransferEncoding(let value): return "polling response with Transfer-Encoding \(value)"
        case .refused(let statusLine, let body): return "polling request refused: \(statusLine) \(body)"
        case .noSessionID(let text): return "Engine.IO open packet without a sid: \(text)"
        }
    }
}
