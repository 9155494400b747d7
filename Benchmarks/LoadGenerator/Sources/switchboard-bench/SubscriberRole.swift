import Atomics
import Histogram
import NIOCore

/// A connection that subscribes to the scenario's channel and counts what arrives.
///
/// Confined to its connection's event loop (hence `@unchecked Sendable`: it is only handed to
/// that loop, never touched from another thread).
final class SubscriberRole: BenchRole, @unchecked Sendable {
    private let stats: LoopStats
    private let channel: String
    /// Called after each delivery; the latency scenario uses it to publish the next message.
    var onDelivery: (() -> Void)?
    private var confirmed = false

    init(stats: LoopStats, channel: String) {
        self.stats = stats
        self.channel = channel
    }

    func linkReady(_ link: any BenchLink) {
        stats.bump(stats.ready)
        link.sendSubscribe(channel: channel)
    }

    func replyReceived(_ link: any BenchLink) {
        guard !confirmed else { return }
        confirmed = true
        stats.bump(stats.subscribed)
    }

    func errorReceived(_ link: any BenchLink, message: String, answersRequest: Bool) {
        stats.recordError(message)
    }

    @inline(__always)
    func deliveryReceived(sentAt: UInt64, receivedAt: UInt64) {
        stats.bump(stats.delivered)
        stats.lastDeliveryAt.store(receivedAt, ordering: .relaxed)
        _ = stats.latency.record(receivedAt &- min(sentAt, receivedAt))
        onDelivery?()
    }

    func linkClosed() {
        stats.bump(stats.closed)
    }
}

/// A connection that only connects and waits (conns), or connects and leaves at once (churn).
final class IdleRole: BenchRole, @unchecked Sendable {
    private let stats: LoopStats
    private let startedAt: UInt64
    private let leaveWhenReady: Bool
    private let lifetime: TimeAmount
    private let onClosed: (() -> Void)?
    /// The link once it is ready, so the scenario can close it.
    private(set) var link: (any BenchLink)?
    /// Whether the handshake finished (read on the connection's loop: churn's handshake deadline).
    private(set) var isReady = false

    /// - Parameters:
    ///   - leaveWhenReady: close once the handshake finishes (churn), after `lifetime`.
    ///   - onClosed: called on the loop when the connection is gone (churn starts the next one).
    init(stats: LoopStats, leaveWhenReady: Bool, lifetime: TimeAmount = .zero, onClosed: (() -> Void)? = nil) {
        self.stats = stats
        self.startedAt = BenchClock.now()
        self.leaveWhenReady = leaveWhenReady
        self.lifetime = lifetime
        self.onClosed = onClosed
    }

    func linkReady(_ link: any BenchLink) {
        stats.bump(stats.ready)
        self.link = link
        isReady = true
        if leaveWhenReady {
            _ = stats.latency.record(BenchClock.now() &- startedAt)
            if lifetime > .zero {
                stats.loop.scheduleTask(in: lifetime) { link.close() }
            } else {
                link.close()
            }
        }
    }

    func replyReceived(_ link: any BenchLink) {}

    func errorReceived(_ link: any BenchLink, message: String, answersRequest: Bool) {
        stats.recordError(message)
    }

    func deliveryReceived(sentAt: UInt64, receivedAt: UInt64) {}

    func linkClosed() {
        stats.bump(stats.closed)
        link = nil
        onClosed?()
    }
}
