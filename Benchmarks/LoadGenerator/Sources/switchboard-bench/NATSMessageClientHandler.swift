import Foundation
import NIOCore

/// One message from the server, valid only during ``NATSMessageRole/messageReceived(_:link:)`` (its
/// buffers point into the read buffer).
struct NATSInboundMessage {
    /// The subject it was published to (for a JetStream delivery: the stored subject, not the inbox).
    var subject: UnsafeRawBufferPointer
    /// The subscription it matched.
    var sid: Int
    /// Its reply subject; empty when it has none.
    var replyTo: UnsafeRawBufferPointer
    /// The header block (`NATS/1.0[ status]\r\n…\r\n\r\n`); empty for a MSG without headers.
    var headers: UnsafeRawBufferPointer
    /// The payload after the headers.
    var payload: UnsafeRawBufferPointer

    /// The header block's status code (JetStream's 404, 408, 409, 100), or nil.
    var status: Int? { headers.isEmpty ? nil : NATSMessageLine.status(ofHeaders: headers) }
}

/// What a ``NATSMessageClientHandler`` tells its scenario, on the connection's event loop.
protocol NATSMessageRole: AnyObject {
    /// The handshake finished (first PONG).
    func linkReady(_ link: NATSMessageClientHandler)
    /// A MSG or HMSG arrived.
    func messageReceived(_ message: NATSInboundMessage, link: NATSMessageClientHandler)
    /// A PONG answered a PING the role sent.
    func pongReceived(_ link: NATSMessageClientHandler)
    /// The end of one read's messages: the place to flush what they made the role write.
    func readProcessed(_ link: NATSMessageClientHandler)
    /// `-ERR` or a protocol failure.
    func errorReceived(_ link: NATSMessageClientHandler, message: String)
    /// The connection is gone.
    func linkClosed()
}

/// A NATS client connection for the JetStream scenarios: the text protocol with headers (`HMSG`) and
/// reply subjects, handing every message to its role with its subject, reply and status.
///
/// ``NATSClientHandler`` stays as it is: it serves ``BenchLink`` (batches acknowledged by `PING`) and
/// reads only the timestamp of each payload, the cheapest possible reader for core-NATS throughput.
/// JetStream needs each message's reply subject (`$JS.ACK…` to acknowledge, the PubAck inbox token),
/// its status header and its payload, and request/reply writes; that is this handler.
final class NATSMessageClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection is in its life.
    private enum State {
        /// Waiting for the server's INFO.
        case awaitingInfo
        /// CONNECT + PING sent; waiting for the first PONG.
        case awaitingPong
        /// Ready.
        case open
        /// Closed or closing.
        case closed
    }

    private var state = State.awaitingInfo
    private let role: any NATSMessageRole
    private var context: ChannelHandlerContext?
    private var cumulation = ReadCumulation()
    /// Written but not yet flushed (the role writes many messages per read, the handler flushes once).
    private var outbound: ByteBuffer
    /// Monotonic time of the current read, taken once for all its messages.
    private(set) var readAt: UInt64 = 0

    init(role: any NATSMessageRole) {
        self.role = role
        self.outbound = ByteBufferAllocator().buffer(capacity: 0)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        outbound = context.channel.allocator.buffer(capacity: 64 * 1024)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        self.context = nil
        role.linkClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        role.errorReceived(self, message: "\(error)")
        state = .closed
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        cumulation.prepend(to: &buffer, allocator: context.channel.allocator)
        readAt = BenchClock.now()
        let malformed = process(&buffer)
        if let malformed {
            role.errorReceived(self, message: "malformed NATS line: \(malformed)")
            state = .closed
            context.close(promise: nil)
            return
        }
        if buffer.readableBytes > NATSClientHandler.maximumControlLineBytes + NATSClientHandler.maximumPayloadBytes + 2
        {
            role.errorReceived(self, message: "NATS frame too large")
            context.close(promise: nil)
            return
        }
        cumulation.keep(buffer)
        if state == .open { role.readProcessed(self) }
    }

    /// Consumes every complete line (and message) in `buffer`; returns the text of a malformed line.
    private func process(_ buffer: inout ByteBuffer) -> String? {
        var malformed: String?
        let consumed = buffer.withUnsafeReadableBytes { bytes -> Int in
            var offset = 0
            while offset < bytes.count, state != .closed {
                guard let found = memchr(bytes.baseAddress! + offset, 10, bytes.count - offset) else { break }
                let newline = bytes.baseAddress!.distance(to: UnsafeRawPointer(found))
                let lineEnd = newline > offset && bytes[newline - 1] == 13 ? newline - 1 : newline
                let line = UnsafeRawBufferPointer(rebasing: bytes[offset..<lineEnd])
                let first = bytes[offset]
                guard first == UInt8(ascii: "M") || first == UInt8(ascii: "H") else {
                    handleControlLine(String(decoding: line, as: UTF8.self))
                    offset = newline + 1
                    continue
                }
                guard let parsed = NATSMessageLine.parse(line),
                    parsed.totalBytes <= NATSClientHandler.maximumPayloadBytes
                else {
                    malformed = String(decoding: line.prefix(200), as: UTF8.self)
                    return offset
                }
                let bodyStart = newline + 1
                guard bytes.count - bodyStart >= parsed.totalBytes + 2 else { break }
                let headers = UnsafeRawBufferPointer(rebasing: bytes[bodyStart..<bodyStart + parsed.headerBytes])
                let payload = UnsafeRawBufferPointer(
                    rebasing: bytes[bodyStart + parsed.headerBytes..<bodyStart + parsed.totalBytes])
                let message = NATSInboundMessage(
                    subject: UnsafeRawBufferPointer(rebasing: line[parsed.subject]), sid: parsed.sid,
                    replyTo: UnsafeRawBufferPointer(rebasing: line[parsed.replyTo]), headers: headers,
                    payload: payload)
                offset = bodyStart + parsed.totalBytes + 2
                if state == .open { role.messageReceived(message, link: self) }
            }
            return offset
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        return malformed
    }

    private func handleControlLine(_ line: String) {
        if line.hasPrefix("PING") {
            outbound.writeString("PONG\r\n")
            flush()
        } else if line.hasPrefix("PONG") {
            if state == .awaitingPong {
                state = .open
                role.linkReady(self)
            } else {
                role.pongReceived(self)
            }
        } else if line.hasPrefix("INFO") {
            guard state == .awaitingInfo else { return }
            state = .awaitingPong
            // headers: HMSG (JetStream statuses); no_responders: a request to nothing fails at once.
            outbound.writeString(
                #"CONNECT {"verbose":false,"pedantic":false,"echo":false,"headers":true,"no_responders":true,"name":"switchboard-bench-js","lang":"swift","version":"0"}"#
                    + "\r\nPING\r\n")
            flush()
        } else if line.hasPrefix("-ERR") {
            role.errorReceived(self, message: line)
        }
    }

    // MARK: - Writing (on the loop; nothing leaves before flush())

    /// `SUB <subject> <sid>`.
    func subscribe(_ subject: String, sid: Int) {
        outbound.writeString("SUB \(subject) \(sid)\r\n")
    }

    /// `PING`: the server answers after processing everything written before it.
    func ping() {
        outbound.writeString("PING\r\n")
    }

    /// `PUB <subject> [reply] <#bytes>` with `payload`.
    func publish(subject: String, replyTo: String? = nil, payload: some Collection<UInt8>) {
        if let replyTo {
            outbound.writeString("PUB \(subject) \(replyTo) \(payload.count)\r\n")
        } else {
            outbound.writeString("PUB \(subject) \(payload.count)\r\n")
        }
        outbound.writeBytes(payload)
        outbound.writeStaticString("\r\n")
    }

    /// Direct access to the unflushed bytes, for roles that build many publishes per read.
    func withOutbound<Result>(_ body: (inout ByteBuffer) -> Result) -> Result {
        body(&outbound)
    }

    /// Sends everything written so far.
    func flush() {
        guard let context, outbound.readableBytes > 0 else { return }
        context.writeAndFlush(wrapOutboundOut(outbound), promise: nil)
        outbound = context.channel.allocator.buffer(capacity: 64 * 1024)
    }

    /// Closes the connection.
    func close() {
        state = .closed
        context?.close(promise: nil)
    }
}
