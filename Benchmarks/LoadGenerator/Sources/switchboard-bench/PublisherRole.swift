import Atomics
import NIOCore

/// How a publisher paces itself.
struct PublishPlan: Sendable {
    /// Messages this publisher sends in total.
    var count: Int
    /// Payload size in bytes.
    var payloadSize: Int
    /// Every `acknowledgeEvery` messages the last one asks for a reply.
    var acknowledgeEvery: Int
    /// At most this many acknowledgement requests may be outstanding (the window).
    var window: Int
    /// Messages per second for this publisher; 0 = as fast as the window allows.
    var rate: Double
    /// End-to-end window: at most this many of this publisher's messages may be published but not
    /// yet delivered to the average subscriber; 0 = off (pub). Keeps a server that acknowledges
    /// before it delivers (or buffers without bound) from queueing seconds of backlog.
    var deliveryWindow: Int = 0
    /// Subscribers that receive every message (for the delivery window).
    var subscribers: Int = 0
    /// Publishers sharing the channel (for the delivery window).
    var publishers: Int = 1
}

/// A connection that publishes timestamped messages, bounded by a window of acknowledged
/// batches: it writes up to ``PublishPlan/window`` batches of ``PublishPlan/acknowledgeEvery``
/// messages, each ending in a reply request, and writes the next batch as each reply arrives. It is
/// done when everything is sent and the last reply is in, so `pub` is confirmed by a final round
/// trip. Confined to its connection's event loop.
final class PublisherRole: BenchRole, @unchecked Sendable {
    private let stats: LoopStats
    private let plan: PublishPlan
    private var link: (any BenchLink)?
    private var sent = 0
    private var outstanding = 0
    private var startedAt: UInt64 = 0
    private var started = false
    private var done = false
    private var pacingTask: RepeatedTask?
    /// All loops' stats, read (relaxed) for the delivery window.
    private let allStats: LoopStatsSet?

    init(stats: LoopStats, plan: PublishPlan, allStats: LoopStatsSet? = nil) {
        self.stats = stats
        self.plan = plan
        self.allStats = allStats
    }

    /// How many more messages the delivery window allows now.
    private var deliveryAllowance: Int {
        guard plan.deliveryWindow > 0, plan.subscribers > 0, let allStats else { return .max }
        let deliveredMessages = allStats.total(\.delivered) / plan.subscribers
        return (deliveredMessages + plan.deliveryWindow * plan.publishers) / plan.publishers - sent
    }

    /// Number of messages sent so far.
    var sentCount: Int { sent }

    func linkReady(_ link: any BenchLink) {
        self.link = link
        stats.bump(stats.ready)
    }

    /// Starts publishing (call on the loop). With a rate, a 1 ms timer releases what is due.
    func start(at startTime: UInt64) {
        guard !started else { return }
        started = true
        startedAt = startTime
        if plan.rate > 0 || plan.deliveryWindow > 0 {
            // A timer re-checks what is due (rate) and what deliveries have freed (delivery window).
            pacingTask = stats.loop.scheduleRepeatedTask(initialDelay: .zero, delay: .microseconds(250)) {
                [weak self] _ in
                self?.pump()
            }
        } else {
            pump()
        }
    }

    /// Sends exactly one unacknowledged message now (latency scenario).
    func publishOne() {
        guard let link, sent < plan.count else { return }
        link.writePublishes(count: 1, payloadSize: plan.payloadSize, now: BenchClock.now(), acknowledged: false)
        link.flush()
        sent += 1
        stats.bump(stats.sent)
    }

    private func pump() {
        guard let link, !done else { return }
        var due = plan.count - sent
        if plan.rate > 0 {
            let elapsed = Double(BenchClock.now() &- startedAt) / 1e9
            due = min(due, Int(elapsed * plan.rate) - sent)
        }
        due = min(due, deliveryAllowance)
        var wrote = false
        while due > 0 && outstanding < plan.window {
            let batch = min(due, plan.acknowledgeEvery)
            link.writePublishes(count: batch, payloadSize: plan.payloadSize, now: BenchClock.now(), acknowledged: true)
            sent += batch
            due -= batch
            outstanding += 1
            stats.bump(stats.sent, by: batch)
            wrote = true
        }
        if wrote { link.flush() }
        finishIfDone()
    }

    func replyReceived(_ link: any BenchLink) {
        guard outstanding > 0 else { return }
        outstanding -= 1
        pump()
    }

    private func finishIfDone() {
        guard !done, sent >= plan.count, outstanding == 0 else { return }
        done = true
        pacingTask?.cancel()
        stats.lastPublisherDoneAt.store(BenchClock.now(), ordering: .relaxed)
        stats.bump(stats.publishersDone)
    }

    func errorReceived(_ link: any BenchLink, message: String, answersRequest: Bool) {
        stats.recordError(message)
        // An error with an id answers the batch's reply request; keep the window moving.
        if answersRequest { replyReceived(link) }
    }

    func deliveryReceived(sentAt: UInt64, receivedAt: UInt64) {}

    func linkClosed() {
        pacingTask?.cancel()
        stats.bump(stats.closed)
    }
}
