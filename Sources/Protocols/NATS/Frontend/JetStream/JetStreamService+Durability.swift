import Atomics
import BusCore
import BusRuntime
import Foundation
import NIOConcurrencyHelpers
import NIOCore

extension JetStreamService {
    // MARK: - Durable consumers and stream settings across restarts

    /// Durable consumers are kept in a bus stream of their own (`_jetstream_consumers`, `file` storage,
    /// one record per consumer subject `$JS/consumers/<stream>/<consumer>` thanks to a per-subject limit
    /// of 1): the configuration, the ack floor and the creation time; an empty record deletes. Written on
    /// create, delete and every acknowledgement that moves the floor (group commit batches them); read
    /// back once after a start (`restoreConsumersIfNeeded`). A restored consumer resumes after its
    /// ack floor: what was delivered and not acknowledged comes again (at least once); its consumer
    /// sequence starts over.
    ///
    /// Requests queue, and one caller at a time drains them in order, building each record when it is
    /// appended: the last record of a consumer always reads its state at or after its last request (two
    /// acks racing on two loops cannot store the older floor last), and requests made while the store
    /// stream is being created wait for it instead of appending to a stream not there yet (they were lost
    /// so: a consumer restored at floor 0 after its acks were answered).
    ///
    /// `announce`: the other instances sharing the store hear of the creation or deletion, right behind
    /// its record (`announce(_:deleted:)`).
    func persist(_ consumer: JetStreamConsumer, deleted: Bool = false, announce: Bool = false) {
        guard consumer.config.durableName != nil else { return }
        if announce, bus.instanceClaims != nil { consumer.announcementPending.store(true, ordering: .releasing) }
        if deleted { releaseClaim(of: consumer) }
        enqueue(.consumer(consumer, deleted: deleted))
    }

    /// The same store keeps what JetStream says about a stream beside the bus's own configuration
    /// (`description`, `deny_delete`, `deny_purge`, `allow_direct`, `allow_rollup_hdrs`, `allow_msg_ttl`,
    /// its creation time) on `$JS/streams/<stream>`: a KV bucket keeps its rollups and direct gets after a
    /// restart. Written when a stream is created, updated or deleted here (the record reads the settings
    /// as they are when it is appended; none: deleted).
    func persistSettings(of stream: String) {
        enqueue(.stream(stream))
    }

    private func enqueue(_ item: PersistItem) {
        let drain = persistQueue.withLockedValue { queue -> Bool in
            queue.pending.append(item)
            guard !queue.draining else { return false }
            queue.draining = true
            return true
        }
        // Drained on a loop's next turn rather than inline: the acknowledgements of one read (a batch of
        // `+ACK`s) coalesce into one record per consumer instead of an append each.
        if drain {
            let loop = bus.shards[0].eventLoop
            loop.execute { self.drainPersists() }
        }
    }

    /// Appends what `persist` queued, in order, until the queue is empty; first creates the store stream
    /// when it is not there (the queue keeps filling meanwhile, and this drain goes on once it exists).
    private func drainPersists() {
        let streams = bus.streams
        let name = JetStreamStreamConfig.consumerStoreName
        guard streams.stream(named: name) != nil else {
            // One record per consumer (and per stream's settings): kept whole in memory, so the restore
            // (`restoreConsumersIfNeeded`, which may run on a loop) never waits for the store.
            let store = StreamConfiguration(
                name: name, filters: [], limits: StreamLimits(maxMessagesPerSubject: 1), storage: .file,
                memoryTail: .all)
            // A failure to store it leaves the records to a stream that is not there (dropped, as before);
            // the next request tries to create it again.
            streams.create(store) { _ in self.drainAppends() }
            return
        }
        drainAppends()
    }

    private func drainAppends() {
        let placement = StreamPlacement(stream: JetStreamStreamConfig.consumerStoreName)
        while true {
            let batch = persistQueue.withLockedValue { queue -> [PersistItem] in
                guard !queue.pending.isEmpty else {
                    queue.draining = false
                    return []
                }
                defer { queue.pending.removeAll(keepingCapacity: true) }
                return queue.pending
            }
            if batch.isEmpty { return }
            for item in Self.lastOfEach(batch) {
                bus.streams.append(record(of: item), placement: placement) { _ in }
                if case .consumer(let consumer, deleted: false) = item { commitFloor(of: consumer) }
                if case .consumer(let consumer, let deleted) = item, consumer.takeAnnouncement() {
                    // Submitted after the record: committed with it or after it.
                    announce(consumer, deleted: deleted)
                }
            }
        }
    }

    /// The last request for each consumer or stream, in the order of those last requests: a record reads
    /// the state as it is when appended, so an earlier request for the same one would store the same.
    static func lastOfEach(_ batch: [PersistItem]) -> [PersistItem] {
        enum Key: Hashable {
            case consumer(ObjectIdentifier)
            case stream(String)
        }
        var seen = Set<Key>()
        var kept: [PersistItem] = []
        for item in batch.reversed() {
            let key: Key
            switch item {
            case .consumer(let consumer, _): key = .consumer(ObjectIdentifier(consumer))
            case .stream(let name): key = .stream(name)
            }
            if seen.insert(key).inserted { kept.append(item) }
        }
        return kept.reversed()
    }

    private func record(of item: PersistItem) -> BusMessage {
        var payload = ByteBuffer()
        let topic: String
        switch item {
        case .consumer(let consumer, let deleted):
            topic = "$JS/consumers/\(consumer.stream)/\(consumer.name)"
            if !deleted {
                payload = consumer.storedRecord(ackFloor: consumer.withState { $0.ackFloorStreamSequence })
            }
        case .stream(let stream):
            topic = "\(Self.settingsPrefix)\(stream)"
            let (kept, created) = state.withLockedValue { ($0.kept[stream], $0.created[stream]) }
            if let kept { payload = JetStreamJSON.encode(["config": kept.json, "created": created ?? startedAt]) }
        }
        return BusMessage(topic: Topic(trusted: topic), payload: payload, timestamp: bus.clock())
    }

    private static let settingsPrefix = "$JS/streams/"

    /// Takes back the durable consumers and stream settings kept before the last restart, once per
    /// process: at start, once the streams are restored (the NATS frontend's `restore`), or before the
    /// first JetStream request of a service made without one. Nil when it had already run.
    @discardableResult
    package func restoreConsumersIfNeeded() -> (consumers: Int, streams: Int)? {
        guard !restoredConsumers.load(ordering: .acquiring) else { return nil }
        guard
            restoredConsumers.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
                .exchanged
        else { return nil }
        let name = JetStreamStreamConfig.consumerStoreName
        guard bus.streams.stream(named: name) != nil else { return (0, 0) }
        var restored = (consumers: 0, streams: 0)
        var from: UInt64 = 0
        while let records = try? bus.streams.read(name, partition: 0, from: from, limit: 1024).records,
            let last = records.last
        {
            for record in records {
                let message = record.record.message
                if message.topic.name.hasPrefix(Self.settingsPrefix) {
                    let stream = String(message.topic.name.dropFirst(Self.settingsPrefix.count))
                    if restoreSettings(message, of: stream) { restored.streams += 1 }
                } else if restoreConsumer(message) {
                    restored.consumers += 1
                }
            }
            from = last.offset + 1
        }
        return restored
    }

    /// A stream's JetStream settings, while the bus stream of that name is there.
    private func restoreSettings(_ message: BusMessage, of stream: String) -> Bool {
        guard message.payload.readableBytes > 0, bus.streams.stream(named: stream) != nil,
            let document = try? JetStreamJSON.object(message.payload), let json = document["config"] as? [String: Any],
            let config = try? JetStreamStreamConfig(json: json, nameInSubject: stream)
        else { return false }
        let created = JetStreamJSON.int(document, "created").map { UInt64(max(0, $0)) }
        let restored = state.withLockedValue { state -> Bool in
            guard state.kept[stream] == nil else { return false }
            state.kept[stream] = config
            if let created { state.created[stream] = created }
            return true
        }
        if restored, config.republish != nil { startRepublishing(stream) }
        if restored, config.mirror != nil || !config.sources.isEmpty { startSourcing(stream) }
        return restored
    }

    func restoreConsumer(_ message: BusMessage) -> Bool {
        guard message.payload.readableBytes > 0, let document = try? JetStreamJSON.object(message.payload),
            let stream = JetStreamJSON.string(document, "stream"), let json = document["config"] as? [String: Any],
            let name = JetStreamJSON.string(json, "name"), bus.streams.stream(named: stream) != nil,
            let config = try? JetStreamConsumerConfig(json: json, name: name), let filters = try? config.filters()
        else { return false }
        let floor = UInt64(max(0, JetStreamJSON.int(document, "ack_floor") ?? 0))
        let created = UInt64(max(0, JetStreamJSON.int(document, "created") ?? 0))
        var initial = JetStreamConsumerState(config: config, filters: filters, cursor: floor + 1)
        initial.lastActive = bus.clock()
        if config.replayPolicy == "original", let box = bus.streams.stream(named: stream) {
            initial.replayThrough = box.partitions[0].info.lastOffset
        }
        let consumer = JetStreamConsumer(stream: stream, state: initial, created: created)
        let registered = state.withLockedValue { state -> Bool in
            guard state.consumers[stream]?[name] == nil else { return false }
            state.consumers[stream, default: [:]][name] = consumer
            return true
        }
        if registered, config.deliverSubject != nil { startPushing(consumer) }
        return registered
    }
}
