import BusCore
import NIOCore
import Storage

extension StreamRegistry {
    /// One partition's share of a batch append whose records wait for the store: their writes and offsets
    /// (in offset order), each one's slot in the batch's answers, and what the store must drop with them.
    struct PreparedPartitionBatch {
        let partition: StreamPartitionBox
        var writes: [StoreWrite] = []
        var offsets: [UInt64] = []
        var slots: [Int] = []
        /// The partition's oldest kept offset after its last appended record (the store drops rows below it).
        var firstOffset: UInt64 = 0
        /// Records a per-subject limit removed above `firstOffset`, for the store to remove.
        var dropped: [UInt64] = []
    }

    /// A batch append's answers — `counts[i]` for message i, in the messages' order, each message's in the
    /// order `prepareAppends(_:streams:placement:)` gives them — and the records waiting for the store,
    /// one group per partition.
    struct PreparedBatch {
        var acks: [StreamAppendAck] = []
        var counts: [Int]
        var pending: [PreparedPartitionBatch] = []
    }

    /// A partition's records of a batch, gathered before the one locked pass that appends them.
    private struct PartitionGroup {
        let box: StreamBox
        let index: Int
        let durable: Bool
        var records: [StreamPartitionBox.BatchRecord] = []
        var slots: [Int] = []
    }

    /// Appends `messages[i]` to `streams[i]` (those capturing its topic; nil: the message is not stored, as
    /// `LoopShard.isStoredInLog` says) and to `placements[i].stream`, with every record and answer exactly
    /// as `prepareAppends(_:streams:placement:)` per message in order would give — but each partition's
    /// records in one pass under its lock (`StreamPartitionBox.append(batch:awaitsStore:_:)`), and one
    /// pending group per partition instead of one `PreparedAppend` per record. Partitions are independent
    /// (own offsets, limits, duplicate window), so grouping by partition in message order changes nothing.
    func prepareAppends(batch messages: [BusMessage], streams: [[StreamBox]?], placements: [StreamPlacement?])
        -> PreparedBatch
    {
        var prepared = PreparedBatch(counts: Array(repeating: 0, count: messages.count))
        prepared.acks.reserveCapacity(messages.count)
        var groups: [PartitionGroup] = []
        var groupOf: [ObjectIdentifier: Int] = [:]
        var lastGroup: (partition: ObjectIdentifier, group: Int)?
        let waitsForStore = store != nil
        for position in messages.indices {
            guard let captured = streams[position] else { continue }
            let message = messages[position]
            let placement = placements[position]
            let start = prepared.acks.count
            var targets = captured
            if let name = placement?.stream, !targets.contains(where: { $0.name == name }) {
                if let named = stream(named: name) {
                    targets.append(named)
                } else {
                    prepared.acks.append(
                        StreamAppendAck(
                            stream: name, partition: placement?.partition ?? 0, offset: 0, epoch: "",
                            outcome: .refused("no stream \(name)")))
                }
            }
            let record = StreamRecord(
                message: placement?.packedPayload == true ? message : Self.compacted(message), key: placement?.key)
            for box in targets {
                let given = placement?.stream == nil || placement?.stream == box.name ? placement?.partition : nil
                guard let index = box.partition(for: message.topic, key: placement?.key, given: given) else {
                    prepared.acks.append(
                        StreamAppendAck(
                            stream: box.name, partition: given ?? 0, offset: 0, epoch: "",
                            outcome: .refused("no partition \(given ?? 0)")))
                    continue
                }
                let partition = ObjectIdentifier(box.partitions[index])
                let group: Int
                if let lastGroup, lastGroup.partition == partition {
                    group = lastGroup.group
                } else if let known = groupOf[partition] {
                    group = known
                } else {
                    group = groups.count
                    groupOf[partition] = group
                    var created = PartitionGroup(box: box, index: index, durable: waitsForStore && box.storage == .file)
                    // Most batches go to one partition (a Kafka produce to one topic): room for the rest at once.
                    created.records.reserveCapacity(messages.count - position)
                    created.slots.reserveCapacity(messages.count - position)
                    groups.append(created)
                }
                lastGroup = (partition, group)
                groups[group].records.append(
                    StreamPartitionBox.BatchRecord(
                        record: record, messageID: placement?.messageID, now: message.timestamp,
                        offset: placement?.stream == box.name ? placement?.offset : nil))
                groups[group].slots.append(prepared.acks.count)
                prepared.acks.append(
                    StreamAppendAck(stream: box.name, partition: index, offset: 0, epoch: "", outcome: .stored))
            }
            prepared.counts[position] = prepared.acks.count - start
        }
        for group in groups {
            let partition = group.box.partitions[group.index]
            var pending = PreparedPartitionBatch(partition: partition)
            if group.durable {
                pending.writes.reserveCapacity(group.records.count)
                pending.offsets.reserveCapacity(group.records.count)
                pending.slots.reserveCapacity(group.records.count)
            }
            let (firstOffset, dropped) = partition.append(batch: group.records, awaitsStore: group.durable) {
                item, result, epoch in
                let slot = group.slots[item]
                prepared.acks[slot].epoch = epoch
                switch result {
                case .appended(let offset):
                    prepared.acks[slot].offset = offset
                    guard group.durable else { return }
                    let record = group.records[item].record
                    pending.writes.append(
                        .appendStream(
                            StoredStreamMessage(
                                stream: group.box.name, partition: group.index, offset: offset, key: record.key,
                                message: record.message)))
                    pending.offsets.append(offset)
                    pending.slots.append(slot)
                case .duplicate(let offset):
                    prepared.acks[slot].offset = offset
                    prepared.acks[slot].outcome = .duplicate
                case .refused(let refusal):
                    prepared.acks[slot].outcome = .refused(refusal.rawValue)
                }
            }
            guard !pending.offsets.isEmpty else { continue }
            pending.firstOffset = firstOffset
            pending.dropped = dropped
            prepared.pending.append(pending)
        }
        return prepared
    }

    /// Marks a partition's batch stored (or, after a store failure, removes its records: holes) under one
    /// lock; the answers to change, by slot, when it failed.
    static func finish(_ batch: PreparedPartitionBatch, failure: (any Error)?) -> String? {
        guard let failure else {
            batch.partition.stored(offsets: batch.offsets)
            return nil
        }
        batch.partition.failed(offsets: batch.offsets)
        return "not stored: \(failure)"
    }
}

/// The store writes of prepared appends, single and batched, in submission order: each record, then per
/// partition the records a per-subject limit removed and one trim to its oldest kept offset (the limits
/// already dropped them from memory).
struct StreamWriteCollector {
    private var writes: [StoreWrite] = []
    private var trims: [String: [Int: UInt64]] = [:]
    private var dropped: [String: [Int: [UInt64]]] = [:]

    mutating func add(_ item: StreamRegistry.PreparedAppend) {
        guard let stored = item.pending?.write else { return }
        writes.append(.appendStream(stored))
        note(stream: stored.stream, partition: stored.partition, dropped: item.dropped, firstOffset: item.firstOffset)
    }

    mutating func add(_ batch: StreamRegistry.PreparedPartitionBatch) {
        guard !batch.writes.isEmpty else { return }
        writes.append(contentsOf: batch.writes)
        note(
            stream: batch.partition.stream, partition: batch.partition.index, dropped: batch.dropped,
            firstOffset: batch.firstOffset)
    }

    private mutating func note(stream: String, partition: Int, dropped offsets: [UInt64], firstOffset: UInt64) {
        if !offsets.isEmpty { dropped[stream, default: [:]][partition, default: []] += offsets }
        if firstOffset > 1 {
            let before = max(trims[stream]?[partition] ?? 0, firstOffset)
            trims[stream, default: [:]][partition] = before
        }
    }

    consuming func finish() -> [StoreWrite] {
        for (stream, partitions) in dropped {
            for (partition, offsets) in partitions {
                writes.append(.deleteStreamMessages(stream: stream, partition: partition, offsets: offsets))
            }
        }
        for (stream, partitions) in trims {
            for (partition, before) in partitions {
                writes.append(.trimStream(stream: stream, partition: partition, before: before))
            }
        }
        return writes
    }
}
