import Atomics
import BusCore
import NIOCore

/// The bound on what one loop has handed another and that one has not delivered yet (issue 26).
///
/// A publisher's loop routes what it reads and hands each other loop its deliveries after every read
/// (`dispatchToOtherLoops`); nothing made it wait for the receiving loop. When that loop is the slower of
/// the two — it writes to more subscribers, or encodes a costlier form — its queue of hand-offs grows for as
/// long as the publisher keeps up its rate: a subscriber that falls behind pauses its publishers only once
/// its loop reaches the deliveries that put it over its soft limit (`CongestedSubscriber`), and everything
/// queued ahead of them by then is held (a native WebSocket reader at a tenth of the rate: +22 to +73 MB for
/// a 12 MB flood).
///
/// So each loop counts the payload bytes handed to it and not yet delivered (`HandOverCredit.outstanding`,
/// one atomic add per hand-off on the giving loop and one subtract per batch on the receiving one — nothing
/// per message). A hand-off that takes a loop past `bound` pauses the publishers of its messages
/// (`Bus.setPublisherPausing`: the connections stop being read, as for a slow subscriber, with the pauser
/// `handOverPauser(target)`); once that loop's backlog is down to `bound / 2` it tells the loops that paused
/// publishers, which let them go. Nothing is dropped: what was handed over is delivered; only the reading
/// waits.
package final class HandOverCredit: Sendable {
    /// Payload bytes handed to this loop by others and not delivered yet.
    let outstanding = ManagedAtomic<Int>(0)
    /// The loops (bit `index % 64`) that paused publishers for this loop's backlog.
    let waiting = ManagedAtomic<UInt64>(0)

    init() {}

    /// Payload bytes waiting for this loop now.
    package var outstandingBytes: Int { outstanding.load(ordering: .relaxed) }
}

extension LoopShard {
    /// A loop's backlog of hand-offs past which the publishers feeding it are paused (bytes): 8 read bursts
    /// of a connection (16 × 64 KiB each) — far above what a loop that keeps up ever holds between two of its
    /// turns, so the bound costs nothing until a loop falls behind.
    package static let handOverBound = 8 << 20

    /// The pauser id a loop's backlog pauses publishers with (`ConnectionController.publishingPaused(_:by:)`):
    /// no client id starts with a NUL.
    package static func handOverPauser(_ target: Int) -> String { "\u{0}hand-over-\(target)" }

    /// Payload bytes of a delivery (a packed run: its buffer, headers included).
    static func payloadBytes(_ delivery: Delivery) -> Int {
        switch delivery {
        case .many(let message, _), .one(let message, _): return message.payload.readableBytes
        case .run(_, let messages):
            var bytes = 0
            for message in messages { bytes &+= message.payload.readableBytes }
            return bytes
        case .packed(let packed): return packed.byteCount
        }
    }

    /// Counts `bytes` handed to `target` in `batch` (before the hand-off's `execute`); past the bound, pauses
    /// the batch's publishers and asks `target` to say when its backlog is down.
    func chargeHandOver(_ bytes: Int, to target: LoopShard, batch: [Delivery]) {
        let total = target.handOver.outstanding.wrappingIncrementThenLoad(by: bytes, ordering: .relaxed)
        guard total > Self.handOverBound, let pause = bus.publisherPausing else { return }
        var publishers = Set<String>()
        for delivery in batch {
            switch delivery {
            case .many(let message, _), .one(let message, _):
                if let id = message.publisherID { publishers.insert(id) }
            case .run(_, let messages):
                for message in messages { if let id = message.publisherID { publishers.insert(id) } }
            case .packed(let packed):
                if let id = packed.publisherID { publishers.insert(id) }
            }
        }
        let fresh = publishers.subtracting(handOverPaused[target.index])
        guard !fresh.isEmpty else { return }
        handOverPaused[target.index].formUnion(fresh)
        // Set before the hand-off's `execute`, so the receive of this batch (or a later one) sees it.
        target.handOver.waiting.bitwiseOrThenLoad(with: 1 << UInt64(index % 64), ordering: .sequentiallyConsistent)
        let pauser = Self.handOverPauser(target.index)
        for publisher in fresh { pause(publisher, true, pauser) }
    }

    /// `bytes` handed over by another loop were delivered here: at `bound / 2` or below, the loops that paused
    /// publishers for this backlog let them go.
    func creditHandOver(_ bytes: Int) {
        let left = handOver.outstanding.wrappingDecrementThenLoad(by: bytes, ordering: .relaxed)
        guard left <= Self.handOverBound / 2, handOver.waiting.load(ordering: .sequentiallyConsistent) != 0 else {
            return
        }
        let origins = handOver.waiting.exchange(0, ordering: .sequentiallyConsistent)
        let target = index
        for origin in bus.shards where origin.index != target && origins & (1 << UInt64(origin.index % 64)) != 0 {
            origin.eventLoop.execute { origin.handOverDrained(target) }
        }
    }

    /// `target`'s backlog is down: the publishers paused for it go on.
    func handOverDrained(_ target: Int) {
        guard !handOverPaused[target].isEmpty else { return }
        let publishers = handOverPaused[target]
        handOverPaused[target].removeAll()
        guard let pause = bus.publisherPausing else { return }
        let pauser = Self.handOverPauser(target)
        for publisher in publishers { pause(publisher, false, pauser) }
    }
}
