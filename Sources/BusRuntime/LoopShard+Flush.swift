import BusCore
import NIOCore

/// Barriers and flushing: a barrier runs once every delivery dispatched before it is written, and each
/// touched connection is flushed once per batch (sparse batches a slice of connections at a time).
/// Confined to the shard's loop, as everything in `LoopShard`.
extension LoopShard {
    // MARK: - Barriers

    /// Runs `completion` on this loop once every publication made on this loop so far has been written to
    /// its subscribers' connections, on every loop. (NATS answers PING with PONG only then, as
    /// nats-server does: clients use the round trip as a flush barrier.) Subscribers on this loop are
    /// written to during the publish; other loops get a marker after the batches already handed to them.
    package func afterDeliveries(_ completion: @escaping () -> Void) {
        eventLoop.preconditionInEventLoop()
        closeLocalRun()
        barriers.append(completion)
        scheduleHandOff()
    }

    func sendBarriers() {
        let completions = barriers
        barriers = []
        let targets = dispatchedSinceBarrier
        dispatchedSinceBarrier = 0
        guard targets != 0 else {
            for completion in completions { completion() }
            return
        }
        let barrier = Barrier(remaining: 0, completions: completions)
        for shard in bus.shards
        where shard.index != index && (shard.index >= 64 || targets & (1 << UInt64(shard.index)) != 0) {
            barrier.remaining += 1
            // Tasks run in order: this one runs after the batches handed to that loop before it.
            shard.eventLoop.execute {
                self.eventLoop.execute { barrier.arrive() }
            }
        }
    }

    /// Counts the loops a barrier still waits for; confined to the loop that made it.
    final class Barrier: @unchecked Sendable {
        var remaining: Int
        let completions: [() -> Void]

        init(remaining: Int, completions: [() -> Void]) {
            self.remaining = remaining
            self.completions = completions
        }

        func arrive() {
            remaining -= 1
            guard remaining == 0 else { return }
            for completion in completions { completion() }
        }
    }

    /// Flushes the connections this loop's publications were written to so far, now rather than at the
    /// hand-off. A frontend calls it after each read it handled (as nats-server flushes its clients after
    /// each read buffer), so subscribers start receiving while the loop is still reading a large burst:
    /// NIO reads up to 16 buffers (1 MiB) per connection before the hand-off runs, and a subscriber that
    /// waits for all of them sits idle meanwhile. Deliveries batched for the hand-off (other loops,
    /// presence events) are not affected.
    package func flushWritten() {
        closeLocalRun()
        flushTouched()
        dispatchToOtherLoops()
    }

    /// Flushes every connection written to since the last flush, once, and starts a new batch mark.
    ///
    /// A sparse batch — a few messages (a record's change event, a presence event) for many connections —
    /// is flushed `flushSlice` connections at a time, each further slice after a pause of `flushPause` in
    /// which the loop reads its sockets and runs what waits (the next request, the next commit's
    /// completion, another loop's hand-off). A socket write per connection is most of what such a fan-out
    /// costs, and a connection still waiting for its flush when the next message comes gets both in one
    /// write, so a stream of changes faster than one fan-out batches itself, with no delay when it is not.
    /// The queue is first in, first out, with each connection in it once, so none waits for more than the
    /// connections ahead of it; a dense batch (a burst, already one write for many messages) or a barrier
    /// flushes everything at once.
    func flushTouched() {
        let sparse = messagesSinceFlush <= Self.sparseBatchMessages && barriers.isEmpty
        messagesSinceFlush = 0
        if !touched.isEmpty {
            for subscriber in touched { subscriber.deliveryMark = Self.unflushedMark }
            unflushed.append(contentsOf: touched)
            touched.removeAll(keepingCapacity: true)
            batchMark &+= 1
        }
        flushUnflushed(limit: sparse ? Self.flushSlice : .max)
    }

    /// Flushes up to `limit` connections from the front of the queue, and schedules the next slice when
    /// some are left.
    func flushUnflushed(limit: Int) {
        let end = unflushed.count - unflushedHead <= limit ? unflushed.count : unflushedHead + limit
        while unflushedHead < end {
            let subscriber = unflushed[unflushedHead]
            unflushedHead += 1
            subscriber.deliveryMark = 0
            subscriber.flushDeliveries()
        }
        if unflushedHead == unflushed.count {
            unflushed.removeAll(keepingCapacity: true)
            unflushedHead = 0
            return
        }
        guard !drainScheduled else { return }
        drainScheduled = true
        // A delay, not `execute`: tasks queued now run before the loop polls its sockets again.
        eventLoop.scheduleTask(in: Self.flushPause) {
            self.drainScheduled = false
            self.flushUnflushed(limit: Self.flushSlice)
        }
    }

    /// At most this many messages since the last flush make a sparse batch (`flushTouched`).
    static let sparseBatchMessages = 4
    /// Connections flushed per slice of a sparse batch: ~64 socket writes, a few hundred microseconds.
    static let flushSlice = 64
    /// The pause between slices: long enough for the loop to poll its sockets, short against a slice.
    static let flushPause = TimeAmount.microseconds(10)
    /// The mark of a connection waiting in `unflushed` (batch marks count up from 1 and never reach it).
    static let unflushedMark = UInt64.max
}
