import Atomics
import NIOCore

/// One collab-vote participant: subscribes to the vote's channel, casts one ballot by `rpc` on
/// `$sessions/cast` when the scenario says so, and keeps every vote event it receives with its receive
/// time, for ``VoteTimeline`` to turn into latencies after the run.
///
/// Confined to its connection's event loop (hence `@unchecked Sendable`): ``cast()`` and ``record`` are
/// called there through the loop; only ``VoteProgress`` is read from the coordinating thread.
final class VoterRole: BenchTextRole, @unchecked Sendable {
    /// What one voter saw, read on its loop once the run is over.
    struct Record: Sendable {
        /// Monotonic time the ballot was written, or nil if it was never sent.
        var castSentAt: UInt64?
        /// Monotonic time the ballot's reply (or error) arrived.
        var replyAt: UInt64?
        /// The vote's `ballots` in the reply: this ballot's rank among the stored ballots.
        var rank: Int?
        /// The error text, when the ballot was refused or failed.
        var error: String?
        /// Every tally and result on the vote's channel, in arrival order.
        var events: [Event] = []
        /// The result's outcome and reason, when it arrived.
        var outcome: (outcome: String?, reason: String?)?
    }

    /// One event on the vote's channel.
    struct Event: Sendable, Equatable {
        /// The vote's ballot count in it.
        var ballots: Int
        /// Monotonic receive time.
        var receivedAt: UInt64
        /// Whether it was the `result` (else a `tally`).
        var isResult: Bool
    }

    private let stats: LoopStats
    private let progress: VoteProgress
    private let channel: String
    private let ballot: String
    private var link: (any BenchRPCLink)?
    private var subscribeConfirmed = false
    private var castID: Int?
    /// Timeout asked of the server for the ballot's `rpc` (the default 5 s could cut off a slow store).
    static let rpcTimeoutMilliseconds = 30_000
    /// What this voter saw so far.
    private(set) var record = Record()

    /// - Parameters:
    ///   - channel: `sessions/<id>/votes/<vote>`.
    ///   - ballot: the `$sessions/cast` data, `{"session","vote","option"}`.
    init(stats: LoopStats, progress: VoteProgress, channel: String, ballot: String) {
        self.stats = stats
        self.progress = progress
        self.channel = channel
        self.ballot = ballot
    }

    func linkReady(_ link: any BenchLink) {
        stats.bump(stats.ready)
        self.link = link as? any BenchRPCLink
        link.sendSubscribe(channel: channel)
    }

    /// Sends the ballot now (on the loop); its send time is taken just before the write.
    func cast() {
        guard let link, castID == nil else { return }
        record.castSentAt = BenchClock.now()
        castID = link.sendRPC(channel: "$sessions/cast", data: ballot, timeoutMilliseconds: Self.rpcTimeoutMilliseconds)
        stats.bump(stats.sent)
    }

    func textReceived(_ link: any BenchLink, message: ByteBuffer, receivedAt: UInt64) {
        switch message.withUnsafeReadableBytes({ VoteFrame.parse($0) }) {
        case .reply(let id, let ballots, let error):
            if id == castID, record.replyAt == nil {
                record.replyAt = receivedAt
                if let error {
                    record.error = error
                    stats.recordError(error)
                } else if let ballots {
                    record.rank = ballots
                } else {
                    record.error = "reply without ballots"
                    stats.recordError(String(buffer: message))
                }
                progress.replies.wrappingIncrement(ordering: .relaxed)
            } else if let error {
                stats.recordError(error)
            } else if !subscribeConfirmed {
                subscribeConfirmed = true
                stats.bump(stats.subscribed)
            }
        case .event(let kind, let ballots, let outcome, let reason):
            guard kind != .opened else { return }
            record.events.append(Event(ballots: ballots, receivedAt: receivedAt, isResult: kind == .result))
            stats.bump(stats.delivered)
            if kind == .result, record.outcome == nil {
                record.outcome = (outcome, reason)
                progress.results.wrappingIncrement(ordering: .relaxed)
            }
        case .other:
            break
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
    }
}

/// Counts every voter bumps once, read by the coordinating thread to know when the run is over.
final class VoteProgress: Sendable {
    /// Ballots answered (reply or error).
    let replies = ManagedAtomic<Int>(0)
    /// Voters that received the result.
    let results = ManagedAtomic<Int>(0)
}
