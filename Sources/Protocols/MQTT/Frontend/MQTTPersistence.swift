import Atomics
package import BusCore
import DequeModule
import NIOConcurrencyHelpers
package import NIOCore
package import Storage

/// MQTT's use of the store (docs/storage.md): persistent sessions (Session Expiry Interval > 0, or
/// Clean Session 0 in 3.1.1) with their subscriptions, the session message log, each session's
/// progress through it, and inbound QoS 2 identifiers.
///
/// The rule that keeps acknowledged messages: while any persistent session has a subscription, a
/// QoS 1/2 PUBLISH is stored in the message log (with its inbound QoS 2 id and retained change, in one
/// batch) before it is routed and acknowledged. After a restart each persistent session gets back
/// every logged message matching its subscriptions that it had not completed — in-flight QoS 2 ones with
/// their original packet identifiers ([MQTT-4.4.0-1]).
///
/// When several instances share the database (`ownership` set, docs/storage.md) every QoS 1/2 PUBLISH is
/// logged (a session another instance owns may match it, unseen here), and sequence numbers are the
/// time in microseconds with this instance's slot in the low byte: unique across instances, and a
/// subscription made at one time is owed what any instance logs later.
package final class MQTTPersistence: Sendable {
    package let store: any Store
    /// Per-session ownership among instances sharing the store; nil when this instance is its only user.
    let ownership: (any StoreSessionOwnership)?
    private let clock: @Sendable () -> UInt64
    /// Newest sequence number handed out.
    private let lastSequence: ManagedAtomic<UInt64>
    /// Subscriptions held by persistent sessions: while 0, nothing needs the message log.
    private let persistentSubscriptions = ManagedAtomic<Int>(0)
    /// (sequence, time) about once a second, for trimming only what is old enough to have been routed.
    private let checkpoints = NIOLockedValueBox(Deque<(sequence: UInt64, time: UInt64)>())
    /// Per event loop: the lowest sequence its persistent sessions still owe (UInt64.max: none).
    private let loopMinima: NIOLockedValueBox<[UInt64]>
    /// Per event loop: its writes of one tick go to the store together.
    private let batchers: [ObjectIdentifier: LoopWriteBatcher]

    init(store: any Store, loops: [any EventLoop], clock: @escaping @Sendable () -> UInt64) {
        self.store = store
        self.ownership = store.sessionOwnership
        self.clock = clock
        self.lastSequence = ManagedAtomic(0)
        self.loopMinima = NIOLockedValueBox(Array(repeating: 0, count: loops.count))
        var batchers: [ObjectIdentifier: LoopWriteBatcher] = [:]
        for loop in loops { batchers[ObjectIdentifier(loop)] = LoopWriteBatcher(store: store, eventLoop: loop) }
        self.batchers = batchers
    }

    /// Whether a QoS 1/2 publish must be stored before it is acknowledged.
    var isNeeded: Bool { ownership != nil || persistentSubscriptions.load(ordering: .relaxed) > 0 }

    /// Continues numbering after what the store kept (at startup).
    func resume(after sequence: UInt64) { lastSequence.store(sequence, ordering: .relaxed) }

    func nextSequence() -> UInt64 {
        guard let ownership else { return lastSequence.wrappingIncrementThenLoad(ordering: .relaxed) }
        let slot = UInt64(ownership.instanceSlot)
        let now = (clock() / 1_000) << 8 | slot
        var old = lastSequence.load(ordering: .relaxed)
        while true {
            // Past the newest one handed out, in this instance's low byte.
            let next = old >= now ? ((old >> 8) + 1) << 8 | slot : now
            let (exchanged, current) = lastSequence.compareExchange(
                expected: old, desired: next, ordering: .relaxed)
            if exchanged { return next }
            old = current
        }
    }

    /// The newest sequence number a subscription made now is not owed: shared, every number any instance
    /// hands out from the next microsecond on is above it.
    var currentSequence: UInt64 {
        let last = lastSequence.load(ordering: .relaxed)
        guard ownership != nil else { return last }
        return max(last, (clock() / 1_000) << 8 | 0xFF)
    }

    func subscriptionsChanged(by delta: Int) {
        if delta != 0 { persistentSubscriptions.wrappingIncrement(by: delta, ordering: .relaxed) }
    }

    /// Submits `writes` from `loop` (call it there; writes of one loop reach the store in order, batched per
    /// tick); `then` runs on `loop` once they are durable, with the failure if any.
    func persist(_ writes: [StoreWrite], on loop: any EventLoop, then: ((String?) -> Void)? = nil) {
        guard let batcher = batchers[ObjectIdentifier(loop)] else {
            preconditionFailure("MQTT persistence used from a loop that is not the bus's")
        }
        batcher.submit(writes, then: then)
    }

    // MARK: - Trimming the message log

    /// Records a checkpoint (call about once a second).
    func checkpoint(now: UInt64) {
        let sequence = currentSequence
        checkpoints.withLockedValue { checkpoints in
            checkpoints.append((sequence, now))
            while checkpoints.count > 600 { checkpoints.removeFirst() }
        }
    }

    func report(loop index: Int, lowest: UInt64) {
        loopMinima.withLockedValue { $0[index] = lowest }
    }

    /// The newest sequence the log no longer needs: below every session's lowest outstanding one, and
    /// stored at least `age` ns ago (so it has been routed to every session, and counted in their minima).
    func trimBound(now: UInt64, age: UInt64) -> UInt64? {
        let lowest = loopMinima.withLockedValue { $0.min() ?? 0 }
        let old = checkpoints.withLockedValue { checkpoints in
            checkpoints.last { now >= $0.time && now - $0.time >= age }?.sequence
        }
        guard let old, lowest > 0 else { return nil }
        let bound = min(old, lowest == .max ? .max : lowest - 1)
        return bound > 0 ? bound : nil
    }
}
