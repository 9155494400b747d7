import BusCore
import NIOCore
import Storage

/// Durable history: a durable log's publications are reserved an offset, stored in one batch per tick, and
/// appended and routed only once committed; a failed commit takes its offsets back. Confined to the
/// shard's loop, as everything in `LoopShard`.
extension LoopShard {
    /// Stores this tick's durable publications in one batch; they are appended and routed when it commits.
    func storeDurable() {
        let batch = pendingDurable
        pendingDurable = []
        let writes = batch.map { item in
            StoreWrite.appendLog(
                topic: item.message.topic, epoch: item.message.position!.epoch, message: item.message,
                keep: item.log.storedKeep(through: item.message.offset))
        }
        let handover = Handover(value: batch)
        bus.store!.submit(writes) { error in
            let failure = error.map { "\($0)" }
            self.eventLoop.execute { self.durableStored(handover.value, failure: failure) }
        }
    }

    func durableStored(_ batch: [PendingDurable], failure: String?) {
        if let failure {
            takeBack(batch)
            for item in batch {
                item.completion?(PublishResult(position: nil, recipients: 0, failure: "not stored: \(failure)"))
            }
            return
        }
        for item in batch {
            if item.log.appendStored(item.message, now: bus.clock()) {
                let result = route(item.message, plan: plan(for: item.message.topic))
                // Instances joined by an engine and sharing the log through the store: the others deliver
                // it, positioned, now that it is stored (their copies follow the store).
                if let engine, bus.historySharing != nil, !item.message.isRemote { engine.forwardStored(item.message) }
                item.completion?(result)
            } else {
                // Stored into an epoch a failure already ended: not part of the log.
                item.completion?(PublishResult(position: nil, recipients: 0, failure: "not stored: the log was reset"))
            }
        }
    }

    /// A failed commit's reservations, taken back newest first, so each log's next message gets the offset
    /// the first failed one had: no client sees a hole, and the log keeps its epoch and every message it
    /// holds (found with test_store_faults.py's full disk: resetting the log deleted the acknowledged
    /// history of a durable channel). A log with a later reservation in flight (the next batch, already
    /// submitted) cannot take its offsets back: it starts a new epoch, so no client resumes across the hole.
    func takeBack(_ batch: [PendingDurable]) {
        var failedLogs: Set<ObjectIdentifier> = []
        var resetLogs: Set<ObjectIdentifier> = []
        for item in batch.reversed() {
            let id = ObjectIdentifier(item.log)
            if failedLogs.insert(id).inserted { bus.metrics.countStoreFailure() }
            guard !resetLogs.contains(id), !item.log.release(item.message) else { continue }
            resetLogs.insert(id)
            let epoch = bus.history.newEpoch()
            item.log.reset(epoch: epoch)
            bus.store?.submit([.resetLog(topic: item.log.topic, epoch: epoch)])
        }
    }
}
