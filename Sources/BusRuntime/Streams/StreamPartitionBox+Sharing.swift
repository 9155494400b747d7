import BusCore
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// Several instances on one database (docs/storage.md, "Several instances on one PostgreSQL database"):
/// one instance at a time appends to a partition — the one holding its writer claim — and the others
/// follow what it stores.
extension StreamPartitionBox {
    /// Whether appends are taken here now (the writer claim is held, or nobody shares the store).
    var isWritable: Bool { state.withLockedValue { $0.writable } }

    /// Appends are taken here (the claim is held and the partition read fresh) or, `false`, refused with
    /// `StreamAppendRefusal.writtenElsewhere` from now on (the claim is being let go of, or was lost).
    func setWritable(_ writable: Bool) {
        state.withLockedValue { $0.writable = writable }
    }

    /// Whether every record appended here is stored (a writer letting go waits for this).
    var hasUnstored: Bool { state.withLockedValue { !$0.unstored.isEmpty } }

    /// The epoch and newest offset of this copy: what a fresh read continues after.
    var followPoint: (epoch: String, lastOffset: UInt64) {
        state.withLockedValue { ($0.partition.epoch, $0.partition.lastOffset) }
    }

    /// Takes what the database holds of this partition into this copy: another instance's appends (whole
    /// records, above this copy's newest offset), its newest offset, its trims and — `stored.kept` — the
    /// records deleted there; a partition started again in another epoch replaces this copy. Readers
    /// waiting for records are woken. Records appended here and not stored yet (this instance writes)
    /// keep this copy as it is: the writer's copy is the truth.
    func follow(_ stored: StoredStreamChange.Partition, limits: StreamLimits, now: UInt64) {
        let ready = state.withLockedValue { state -> [Waiter] in
            guard state.unstored.isEmpty else { return [] }
            if stored.epoch != state.partition.epoch {
                // Read whole (the loader gives every record for another epoch).
                state.partition = StreamPartition(epoch: stored.epoch, limits: limits, lastOffset: 0)
                if let first = stored.records.first?.offset {
                    state.partition.resumeLastOffset(first - 1)
                }
            }
            for record in stored.records where record.offset > state.partition.lastOffset {
                let element = StreamRecord(message: record.message, key: record.key)
                state.partition.resume(
                    at: record.offset, subject: record.message.topic.name,
                    bytes: record.message.payload.readableBytes, recordBytes: record.message.streamRecordBytes,
                    time: record.message.timestamp
                ) { _ in element }
                state.appends += 1
            }
            state.partition.resumeLastOffset(stored.lastOffset)
            if stored.trimmedBefore > state.partition.firstOffset {
                state.partition.purge(before: stored.trimmedBefore)
            }
            if let kept = stored.kept, stored.after > 0 {
                // Single records deleted on the other instance (a purge by subject, `STREAM.MSG.DELETE`):
                // at or below `after` the database holds exactly `kept`.
                let keptSet = Set(kept)
                let gone = state.partition.read(from: 0).map(\.offset).filter {
                    $0 <= stored.after && !keptSet.contains($0)
                }
                for offset in gone { _ = state.partition.delete(offset: offset) }
            }
            state.evict()
            return state.readyWaiters()
        }
        for waiter in ready { waiter.promise.succeed(true) }
    }
}
