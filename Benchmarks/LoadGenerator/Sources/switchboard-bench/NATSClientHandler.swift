import Foundation
import NIOCore

/// A minimal NATS client (the text protocol of nats-server and of Switchboard's NATS frontend).
///
/// Handshake: on the server's `INFO` it sends `CONNECT {"verbose":false,...}` + `PING`, and the
/// first `PONG` makes the link ready. Afterwards every `PONG` is a reply: the scenario asks for one
/// with `PING` after `SUB` (subscription confirmed) and after each acknowledged batch of `PUB`s (the
/// server has processed everything before it). `MSG` payloads carrying a benchmark timestamp are
/// deliveries. Channels map to subjects by replacing `/` with `.`.
final class NATSClientHandler: ChannelInboundHandler, BenchLink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection is in its life.
    private enum State {
        /// Waiting for the server's INFO.
        case awaitingInfo
        /// CONNECT + PING sent; waiting for the first PONG.
        case awaitingPong
        /// Ready for SUB/PUB.
        case open
        /// Closed or closing.
        case closed
    }

    /// Longest control line accepted (nats-server's default max_control_line is 4 KiB).
    static let maximumControlLineBytes = 4096
    /// Largest MSG payload accepted (nats-server's default max_payload is 1 MiB).
    static let maximumPayloadBytes = 1024 * 1024

    private var state = State.awaitingInfo
    private let role: any BenchRole
    private var context: ChannelHandlerContext?
    private var cumulation = ReadCumulation()
    private var publishLine: [UInt8] = []
    private var payloadTemplate: [UInt8] = []
    private let publishSubject: String
    private var nextSubscriptionID = 0
    private static let pingLine: [UInt8] = Array("PING\r\n".utf8)

    init(target: BenchTarget, role: any BenchRole) {
        self.role = role
        self.publishSubject = Self.subject(for: target.channel)
    }

    /// The NATS subject for a Switchboard channel.
    static func subject(for channel: String) -> String {
        channel.replacingOccurrences(of: "/", with: ".")
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

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
        process(&buffer)
        if buffer.readableBytes > 0 {
            if buffer.readableBytes > Self.maximumControlLineBytes + Self.maximumPayloadBytes + 2 {
                role.errorReceived(self, message: "NATS frame too large", answersRequest: false)
                context.close(promise: nil)
                return
            }
            cumulation.keep(buffer)
        }
    }

    /// Consumes every complete control line (and MSG payload) in `buffer`, in one pass over its bytes.
    private func process(_ buffer: inout ByteBuffer) {
        let controlLines = NATSTimestampScan.consume(&buffer) { sentAt, receivedAt in
            role.deliveryReceived(sentAt: sentAt, receivedAt: receivedAt)
        }
        for line in controlLines where state != .closed {
            handleControlLine(line.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    private func handleControlLine(_ line: String) {
        if line.hasPrefix("PING") {
            write(Array("PONG\r\n".utf8))
            flush()
        } else if line.hasPrefix("PONG") {
            if state == .awaitingPong {
                state = .open
                role.linkReady(self)
            } else {
                role.replyReceived(self)
            }
        } else if line.hasPrefix("INFO") {
            guard state == .awaitingInfo else { return }
            state = .awaitingPong
            write(
                Array(
                    #"CONNECT {"verbose":false,"pedantic":false,"echo":true,"name":"switchboard-bench"}\#r\#nPING\#r\#n"#
                        .utf8))
            flush()
        } else if line.hasPrefix("-ERR") {
            // -ERR closes the connection in NATS; it answers no PING.
            role.errorReceived(self, message: line, answersRequest: false)
        }
        // "+OK" and anything else: ignored.
    }

    // MARK: - BenchLink

    func sendSubscribe(channel: String) {
        nextSubscriptionID += 1
        write(Array("SUB \(Self.subject(for: channel)) \(nextSubscriptionID)\r\nPING\r\n".utf8))
        flush()
    }

    func writePublishes(count: Int, payloadSize: Int, now: UInt64, acknowledged: Bool) {
        guard state == .open, let context, count > 0 else { return }
        if payloadTemplate.count != BenchPayload.effectiveSize(payloadSize, compact: true) {
            payloadTemplate = BenchPayload.template(size: payloadSize, compact: true)
            publishLine = []
        }
        if publishLine.isEmpty {
            publishLine = Array("PUB \(publishSubject) \(payloadTemplate.count)\r\n".utf8)
        }
        // Every message of a batch carries the same timestamp: patch the template once, then copy.
        payloadTemplate.withUnsafeMutableBytes { bytes in
            BenchPayload.patch(bytes, value: now)
        }
        var buffer = context.channel.allocator.buffer(
            capacity: count * (publishLine.count + payloadTemplate.count + 2) + 6)
        for _ in 0..<count {
            buffer.writeBytes(publishLine)
            buffer.writeBytes(payloadTemplate)
            buffer.writeInteger(UInt16(0x0D0A))
        }
        if acknowledged { buffer.writeBytes(Self.pingLine) }
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() { context?.flush() }

    func close() {
        state = .closed
        context?.close(promise: nil)
    }

    private func write(_ bytes: [UInt8]) {
        guard let context else { return }
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
    }
}
