package import BusCore
import NIOCore
import Storage

extension StreamRegistry {
    /// One stream's part of an append: its answer, and — for a record that waits for the store — the
    /// write and the partition to tell when it is stored.
    struct PreparedAppend {
        var ack: StreamAppendAck
        var pending: (partition: StreamPartitionBox, write: StoredStreamMessage)?
        /// The partition's oldest kept offset after the append (the store drops rows below it).
        var firstOffset: UInt64
        /// Records the append removed above `firstOffset` (a per-subject limit), for the store to remove.
        var dropped: [UInt64] = []
    }

    /// Appends `message` to each of `streams` (those capturing its topic) and to `placement.stream`, each
    /// in the partition `StreamBox.partition(for:key:given:)` picks. Records of `file` streams are in their
    /// partitions but unreadable until the caller has stored `pending` and told the partition.
    func prepareAppends(_ message: BusMessage, streams: [StreamBox], placement: StreamPlacement?)
        -> [PreparedAppend]
    {
        var targets = streams
        var prepared: [PreparedAppend] = []
        if let name = placement?.stream, !targets.contains(where: { $0.name == name }) {
            if let named = stream(named: name) {
                targets.append(named)
            } else {
                prepared.append(
                    PreparedAppend(
                        ack: StreamAppendAck(
                            stream: name, partition: placement?.partition ?? 0, offset: 0, epoch: "",
                            outcome: .refused("no stream \(name)")), firstOffset: 0))
            }
        }
        let record = StreamRecord(
            message: placement?.packedPayload == true ? message : Self.compacted(message), key: placement?.key)
        let waitsForStore = store != nil
        for box in targets {
            let given = placement?.stream == nil || placement?.stream == box.name ? placement?.partition : nil
            guard let index = box.partition(for: message.topic, key: placement?.key, given: given) else {
                prepared.append(
                    PreparedAppend(
                        ack: StreamAppendAck(
                            stream: box.name, partition: given ?? 0, offset: 0, epoch: "",
                            outcome: .refused("no partition \(given ?? 0)")), firstOffset: 0))
                continue
            }
            let partition = box.partitions[index]
            let durable = waitsForStore && box.storage == .file
            let appended = partition.append(
                record, messageID: placement?.messageID, now: message.timestamp, awaitsStore: durable,
                offset: placement?.stream == box.name ? placement?.offset : nil)
            var ack = StreamAppendAck(
                stream: box.name, partition: index, offset: 0, epoch: appended.epoch, outcome: .stored)
            var item = PreparedAppend(
                ack: ack, firstOffset: appended.firstOffset, dropped: durable ? appended.dropped : [])
            switch appended.result {
            case .appended(let offset):
                ack.offset = offset
                item.ack = ack
                if durable {
                    item.pending = (
                        partition,
                        StoredStreamMessage(
                            stream: box.name, partition: index, offset: offset, key: record.key, message: record.message
                        )
                    )
                }
            case .duplicate(let offset):
                ack.offset = offset
                ack.outcome = .duplicate
                item.ack = ack
            case .refused(let refusal):
                ack.outcome = .refused(refusal.rawValue)
                item.ack = ack
            }
            prepared.append(item)
        }
        return prepared
    }

    /// The store writes of prepared appends: each record, then per partition the records a per-subject
    /// limit removed and one trim to its oldest kept offset (the limits already dropped them from memory).
    static func writes(for prepared: some Sequence<PreparedAppend>) -> [StoreWrite] {
        var collector = StreamWriteCollector()
        for item in prepared { collector.add(item) }
        return collector.finish()
    }

    /// The store writes of one message's prepared appends (at most one per stream, so there is nothing to
    /// merge): what `writes(for:)` gives for them, without its per-batch dictionaries — a record change
    /// submits its event's appends alone, once per change.
    static func writes(forOneMessage prepared: [PreparedAppend]) -> [StoreWrite] {
        var writes: [StoreWrite] = []
        for item in prepared {
            guard let stored = item.pending?.write else { continue }
            writes.append(.appendStream(stored))
            if !item.dropped.isEmpty {
                writes.append(
                    .deleteStreamMessages(stream: stored.stream, partition: stored.partition, offsets: item.dropped))
            }
            if item.firstOffset > 1 {
                writes.append(.trimStream(stream: stored.stream, partition: stored.partition, before: item.firstOffset))
            }
        }
        return writes
    }

    /// Marks prepared appends stored (or, after a store failure, removes them) and returns every answer.
    static func finish(_ prepared: [PreparedAppend], failure: (any Error)?) -> [StreamAppendAck] {
        prepared.map { finish($0, failure: failure) }
    }

    /// Marks one prepared append stored (or removes it) and returns its answer.
    static func finish(_ item: PreparedAppend, failure: (any Error)?) -> StreamAppendAck {
        guard let (partition, stored) = item.pending.map({ ($0.partition, $0.write) }) else { return item.ack }
        guard let failure else {
            partition.stored(offset: stored.offset)
            return item.ack
        }
        partition.failed(offset: stored.offset)
        var ack = item.ack
        ack.outcome = .refused("not stored: \(failure)")
        return ack
    }

    /// Appends `message` to the streams capturing its topic (and `placement.stream`) outside the bus's
    /// publish path (a frontend that stores without publishing); `completion` gets every stream's answer
    /// once stored, on the store's thread (or at once).
    package func append(
        _ message: BusMessage, placement: StreamPlacement? = nil,
        completion: @escaping @Sendable ([StreamAppendAck]) -> Void
    ) {
        // Shared: the writer claims first, so the record waits for them instead of being refused.
        var targets = matching(message.topic)
        if let name = placement?.stream, let named = stream(named: name), !targets.contains(where: { $0 === named }) {
            targets.append(named)
        }
        let ready = ensureWritable(targets) { [self] in appendNow(message, placement: placement, completion: completion)
        }
        if ready { appendNow(message, placement: placement, completion: completion) }
    }

    private func appendNow(
        _ message: BusMessage, placement: StreamPlacement?, completion: @escaping @Sendable ([StreamAppendAck]) -> Void
    ) {
        let prepared = prepareAppends(message, streams: matching(message.topic), placement: placement)
        let handover = PreparedHandover(value: prepared)
        submit(Self.writes(for: prepared)) { error in completion(Self.finish(handover.value, failure: error)) }
    }

    /// Appends `message` to `placement.stream` alone — not to the streams capturing its topic: a JetStream
    /// source or mirror copies another stream's record, whose topic that stream captures itself. Returns
    /// the answer as known before the store (a refusal or duplicate is final); `completion` gets the final
    /// one once stored, on the store's thread (or at once).
    @discardableResult
    package func appendOnly(
        _ message: BusMessage, placement: StreamPlacement,
        completion: @escaping @Sendable (StreamAppendAck) -> Void
    ) -> StreamAppendAck {
        let prepared = prepareAppends(message, streams: [], placement: placement)
        let handover = PreparedHandover(value: prepared)
        let first =
            prepared.first?.ack
            ?? StreamAppendAck(
                stream: placement.stream ?? "", partition: 0, offset: 0, epoch: "", outcome: .refused("no stream"))
        submit(Self.writes(for: prepared)) { error in
            if let ack = Self.finish(handover.value, failure: error).first { completion(ack) }
        }
        return first
    }

    /// A payload sliced from a read buffer (NATS, MQTT) would keep the whole buffer alive as long as the
    /// stream keeps the record: such payloads are copied once, on the way in (as the topic logs do).
    static func compacted(_ message: BusMessage) -> BusMessage {
        let payload = message.payload
        return payload.storageCapacity > 2 * payload.readableBytes + 512
            ? message.withPayload(ByteBuffer(buffer: payload)) : message
    }
}

/// Carries prepared appends into a store completion (the partitions they name are `Sendable`; the values
/// are handed over, never shared).
struct PreparedHandover: @unchecked Sendable {
    let value: [StreamRegistry.PreparedAppend]
}
