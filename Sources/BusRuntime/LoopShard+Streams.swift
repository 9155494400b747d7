import BusCore
import NIOCore
import Storage

extension LoopShard {
    /// A stream append of this loop waiting for the store, and whose answers it completes.
    struct PendingStreamAppend {
        let prepared: StreamRegistry.PreparedAppend
        let acks: StreamAcks?
        let slot: Int
    }

    /// The answers of one publish's stream appends, collected on this loop; confined to it.
    final class StreamAcks {
        var acks: [StreamAppendAck]
        var remaining: Int
        let completion: ([StreamAppendAck]) -> Void

        init(acks: [StreamAppendAck], remaining: Int, completion: @escaping ([StreamAppendAck]) -> Void) {
            self.acks = acks
            self.remaining = remaining
            self.completion = completion
        }

        func arrive(_ ack: StreamAppendAck, at slot: Int) {
            acks[slot] = ack
            remaining -= 1
            if remaining == 0 { completion(acks) }
        }
    }

    /// Appends to the streams (memory ones at once); `file` streams' records are stored with this tick's
    /// other appends in one batch at the hand-off, and answered when it commits.
    func capture(
        _ message: BusMessage, streams: [StreamBox], placement: StreamPlacement?,
        acknowledged: (([StreamAppendAck]) -> Void)?
    ) {
        let prepared = bus.streams.prepareAppends(message, streams: streams, placement: placement)
        let waiting = prepared.reduce(0) { $0 + ($1.pending == nil ? 0 : 1) }
        guard waiting > 0 else {
            acknowledged?(prepared.map(\.ack))
            return
        }
        let acks = acknowledged.map { StreamAcks(acks: prepared.map(\.ack), remaining: waiting, completion: $0) }
        for (slot, item) in prepared.enumerated() where item.pending != nil {
            pendingStreamAppends.append(PendingStreamAppend(prepared: item, acks: acks, slot: slot))
        }
        scheduleHandOff()
    }

    /// Stores this tick's stream appends in one batch; each becomes readable and is answered on commit.
    func storeStreamAppends() {
        let batch = pendingStreamAppends
        pendingStreamAppends = []
        let writes = StreamRegistry.writes(for: batch.lazy.map(\.prepared))
        let handover = Handover(value: batch)
        bus.streams.submit(writes) { error in
            let failure = error.map { "\($0)" }
            self.eventLoop.execute { self.streamAppendsStored(handover.value, failure: failure) }
        }
    }

    private func streamAppendsStored(_ batch: [PendingStreamAppend], failure: String?) {
        let answers = StreamRegistry.finish(batch.map(\.prepared), failure: failure.map(StoreError.init))
        if failure != nil { bus.metrics.countStoreFailure() }
        for (item, ack) in zip(batch, answers) { item.acks?.arrive(ack, at: item.slot) }
    }
}
