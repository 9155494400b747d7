import Atomics
import Foundation
import Histogram
import NIOCore

/// The NATS client of the scale scenarios: unlike ``NATSClientHandler`` (one subject per link), it
/// writes whatever the scenario prepared — thousands of `SUB` lines, or `PUB`s to many subjects —
/// in one write ending in `PING`, and counts the `PONG` that proves the server processed all of it.
///
/// Confined to its channel's event loop: the scenario only calls it through `loop.execute`.
final class ScaleNATSHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection is in its life.
    private enum State {
        /// Waiting for the server's INFO.
        case awaitingInfo
        /// CONNECT + PING sent; waiting for the first PONG.
        case awaitingPong
        /// Handshake done.
        case open
        /// Closed or closing.
        case closed
    }

    private var state = State.awaitingInfo
    /// The counters of the loop this connection is on.
    let stats: LoopStats
    private var context: ChannelHandlerContext?
    private var cumulation = ReadCumulation()
    /// Written as soon as the handshake finishes (a subscriber's `SUB … PING`), or nil.
    private let firstWrite: [UInt8]?
    /// Called for every PONG after the handshake; without it a PONG counts in `stats.subscribed`.
    var onPong: (() -> Void)?

    init(stats: LoopStats, firstWrite: [UInt8]? = nil) {
        self.stats = stats
        self.firstWrite = firstWrite
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        self.context = nil
        stats.bump(stats.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        stats.recordError("\(error)")
        state = .closed
        context.close(promise: nil)
    }

    /// Writes and flushes `bytes` (complete protocol lines).
    func send(_ bytes: [UInt8]) {
        guard state == .open, let context else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
    }

    /// Writes and flushes a buffer the caller filled.
    func send(_ buffer: ByteBuffer) {
        guard state == .open, let context else { return }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// An allocator for ``send(_:)`` buffers.
    var allocator: ByteBufferAllocator? { context?.channel.allocator }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        cumulation.prepend(to: &buffer, allocator: context.channel.allocator)
        let stats = self.stats
        let controlLines = NATSTimestampScan.consume(&buffer) { sentAt, receivedAt in
            stats.bump(stats.delivered)
            stats.lastDeliveryAt.store(receivedAt, ordering: .relaxed)
            _ = stats.latency.record(receivedAt &- min(sentAt, receivedAt))
        }
        cumulation.keep(buffer)
        for line in controlLines where state != .closed { handleControlLine(line) }
    }

    private func handleControlLine(_ line: String) {
        if line.hasPrefix("PING") {
            context?.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "PONG\r\n")), promise: nil)
        } else if line.hasPrefix("PONG") {
            guard state == .open else {
                state = .open
                stats.bump(stats.ready)
                if let firstWrite { send(firstWrite) }
                return
            }
            if let onPong { onPong() } else { stats.bump(stats.subscribed) }
        } else if line.hasPrefix("INFO"), state == .awaitingInfo {
            state = .awaitingPong
            context?.writeAndFlush(
                wrapOutboundOut(
                    ByteBuffer(
                        string:
                            #"CONNECT {"verbose":false,"pedantic":false,"echo":true,"name":"switchboard-bench"}\#r\#nPING\#r\#n"#
                    )), promise: nil)
        } else if line.hasPrefix("-ERR") {
            stats.recordError(line.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}
