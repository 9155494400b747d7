import Atomics
package import BusCore
import Dispatch
import NIOConcurrencyHelpers
import NIOCore
package import Storage

/// Every stream, by name, and the index of the filters they capture (DESIGN.md §1, stream; docs/
/// architecture.md, "Streams"). A shard asks `matching(_:)` once per topic, on a match-cache miss (the
/// answer is cached in its match plan like the subscribers), so a publish to a topic no stream captures
/// costs nothing more than before; every change here bumps the subscription registry's generation, so
/// those plans are made again.
///
/// Changes (create, update, delete, purge) are applied once the store has them (a `file` stream's, and
/// every definition); their completion runs on the store's thread.
package final class StreamRegistry: Sendable {
    struct State: @unchecked Sendable {  // only touched under the lock
        var streams: [String: StreamBox] = [:]
        /// Names being created (stored, not yet registered): a second create of one is refused.
        var creating: Set<String> = []
        var index = SubscriptionIndex<StreamBox>()
        var groupOffsets: [GroupKey: StoredStreamConsumerOffset] = [:]
    }

    struct GroupKey: Hashable {
        var group: String
        var stream: String
        var partition: Int
    }

    let state = NIOLockedValueBox(State())
    /// How many streams exist: while none do, a plan lookup does not take the lock.
    private let streamCount = ManagedAtomic<Int>(0)
    let store: (any Store)?
    /// The bytes of bodies a `file` partition keeps in memory when its stream says `.default`
    /// (`limits.stream_memory_tail_bytes`); nil: every body.
    let defaultMemoryTail: Int?
    let clock: @Sendable () -> UInt64
    let makeEpoch: @Sendable () -> String
    /// Tells the shards their cached plans are stale (the subscription registry's generation).
    let changed: @Sendable () -> Void
    /// Several instances share the store: their stream changes and appends are followed here, and a
    /// partition is appended to by one instance at a time (`StreamRegistry+Sharing`); nil: not shared.
    let sharing: (any StoreSessionOwnership)?
    /// What following the others and the writer claims need (`StreamRegistry+Sharing`).
    let sharingState = NIOLockedValueBox(SharingState())
    /// Shared: the partitions' writer claims (`StreamRegistry+Sharing`), made once the registry is.
    private let writerClaimsBox = NIOLockedValueBox<SharedWriterClaims?>(nil)
    var writerClaims: SharedWriterClaims? { writerClaimsBox.withLockedValue { $0 } }

    init(
        store: (any Store)?, defaultMemoryTail: Int? = StreamMemoryTail.defaultBytes,
        clock: @escaping @Sendable () -> UInt64, makeEpoch: @escaping @Sendable () -> String,
        changed: @escaping @Sendable () -> Void
    ) {
        self.store = store
        self.defaultMemoryTail = defaultMemoryTail
        self.clock = clock
        self.makeEpoch = makeEpoch
        self.changed = changed
        self.sharing = store?.sessionOwnership
        if let sharing, let store {
            let claims = Self.makeWriterClaims({ [weak self] in self }, sharing: sharing, store: store)
            writerClaimsBox.withLockedValue { $0 = claims }
            startSharing(sharing)
        }
    }

    // MARK: - Looking up

    /// The streams capturing `topic`, each once however many of its filters match.
    package func matching(_ topic: Topic) -> [StreamBox] { matchingNamingLastLevel(topic).streams }

    /// The streams capturing `topic`, and whether a stream's filter names its last level
    /// (`SubscriptionMatch.namesLastLevel`).
    func matchingNamingLastLevel(_ topic: Topic) -> (streams: [StreamBox], namesLastLevel: Bool) {
        guard streamCount.load(ordering: .acquiring) > 0 else { return ([], false) }
        return state.withLockedValue { state in
            let match = state.index.match(topic)
            let members = match.members
            guard members.count > 1 else { return (members, match.namesLastLevel) }
            var seen: Set<ObjectIdentifier> = []
            return (members.filter { seen.insert(ObjectIdentifier($0)).inserted }, match.namesLastLevel)
        }
    }

    /// Whether a stream may capture a topic under `prefix` (`SubscriptionIndex.mayMatch(topicsUnder:)`).
    func mayCapture(topicsUnder prefix: [Substring]) -> Bool {
        guard streamCount.load(ordering: .acquiring) > 0 else { return false }
        return state.withLockedValue { $0.index.mayMatch(topicsUnder: prefix) }
    }

    package func stream(named name: String) -> StreamBox? {
        state.withLockedValue { $0.streams[name] }
    }

    /// Every stream, by name.
    package func list() -> [StreamBox] {
        state.withLockedValue { state in state.streams.keys.sorted().map { state.streams[$0]! } }
    }

    package var count: Int { streamCount.load(ordering: .relaxed) }

    func committedOffset(_ key: GroupKey) -> StoredStreamConsumerOffset? {
        state.withLockedValue { $0.groupOffsets[key] }
    }

    func setCommitted(_ offset: StoredStreamConsumerOffset) {
        state.withLockedValue { state in
            // A stream deleted meanwhile keeps no offsets.
            guard state.streams[offset.stream] != nil else { return }
            state.groupOffsets[GroupKey(group: offset.group, stream: offset.stream, partition: offset.partition)] =
                offset
        }
    }

    // MARK: - Managing

    /// Creates a stream: stored (its definition, and each partition's new epoch), then capturing.
    package func create(
        _ configuration: StreamConfiguration, completion: @escaping @Sendable (Result<StreamInfo, BusError>) -> Void
    ) {
        if let problem = configuration.problem { return completion(.failure(.invalidStream(problem))) }
        let name = configuration.name
        let reserved = state.withLockedValue { state in
            guard state.streams[name] == nil, !state.creating.contains(name) else { return false }
            state.creating.insert(name)
            return true
        }
        guard reserved else { return completion(.failure(.streamExists(name))) }
        guard let sharing else { return store(configuration, completion: completion) }
        // Shared: another instance may have made it and this one not heard yet; writing it again would
        // start its partitions over (their records gone). Read first: one there is taken up and exists.
        sharing.loadStream(name, after: [], epochs: [], kept: false) { result in
            switch result {
            case .success(let change?):
                self.state.withLockedValue { _ = $0.creating.remove(name) }
                self.apply(change, to: name)
                completion(.failure(.streamExists(name)))
            case .success(nil):
                self.store(configuration, completion: completion)
            case .failure(let error):
                self.state.withLockedValue { _ = $0.creating.remove(name) }
                completion(.failure(.notStored("\(error)")))
            }
        }
    }

    /// Creates a stream reserved in `creating`: stored, then capturing.
    private func store(
        _ configuration: StreamConfiguration, completion: @escaping @Sendable (Result<StreamInfo, BusError>) -> Void
    ) {
        let name = configuration.name
        let epochs = (0..<configuration.partitions).map { _ in makeEpoch() }
        var writes: [StoreWrite] = [.saveStream(configuration)]
        for (index, epoch) in epochs.enumerated() {
            writes.append(.saveStreamPartition(stream: name, partition: index, epoch: epoch, lastOffset: 0))
        }
        submit(writes) { error in
            if let error {
                self.state.withLockedValue { _ = $0.creating.remove(name) }
                return completion(.failure(.notStored("\(error)")))
            }
            let box = StreamBox(
                configuration: configuration,
                partitions: epochs.enumerated().map { index, epoch in
                    self.partitionBox(
                        configuration, index: index,
                        partition: StreamPartition(epoch: epoch, limits: configuration.limits))
                })
            self.register(box)
            // Shared: made here, most likely written here next; the claims are taken in the background
            // (an append before they are held is refused, or waits for them: `StreamRegistry+Sharing`).
            if self.sharing != nil {
                for partition in box.partitions where partition.writtenElsewhere != nil {
                    self.claimWriter(partition, then: nil)
                }
            }
            completion(.success(box.info))
        }
    }

    /// Changes a stream's limits, filters and/or memory tail (its partitions, retention and storage stay).
    /// What the new limits no longer allow goes at once, and the bodies past a smaller tail.
    package func update(
        _ name: String, limits: StreamLimits? = nil, filters: [TopicFilter]? = nil,
        memoryTail: StreamMemoryTail? = nil,
        completion: @escaping @Sendable (Result<StreamInfo, BusError>) -> Void
    ) {
        guard let box = stream(named: name) else { return completion(.failure(.streamNotFound(name))) }
        var configuration = box.configuration
        if let limits { configuration.limits = limits }
        if let filters { configuration.filters = filters }
        if let memoryTail { configuration.memoryTail = memoryTail }
        if let problem = configuration.problem { return completion(.failure(.invalidStream(problem))) }
        let updated = configuration
        submit([.saveStream(updated)]) { error in
            if let error { return completion(.failure(.notStored("\(error)"))) }
            let old = box.configuration
            box.setConfiguration(updated)
            if old.filters != updated.filters {
                self.state.withLockedValue { state in
                    for filter in old.filters { _ = state.index.remove(filter, member: box) }
                    for filter in updated.filters { state.index.insert(filter, member: box) }
                }
                self.changed()
            }
            var trims: [StoreWrite] = []
            let now = self.clock()
            for partition in box.partitions {
                if old.memoryTail != updated.memoryTail { partition.setMemoryTail(self.memoryTail(of: updated)) }
                let first = partition.update(limits: updated.limits, now: now)
                if box.storage == .file {
                    trims.append(.trimStream(stream: name, partition: partition.index, before: first))
                }
            }
            self.submit(trims) { _ in completion(.success(box.info)) }
        }
    }

    /// Deletes a stream, its messages and its consumer group offsets. It stops capturing at once.
    package func delete(_ name: String, completion: @escaping @Sendable (Result<Void, BusError>) -> Void) {
        guard let found = stream(named: name), forget(found) else {
            return completion(.failure(.streamNotFound(name)))
        }
        submit([.deleteStream(name: name)]) { error in
            completion(error.map { .failure(.notStored("\($0)")) } ?? .success(()))
        }
    }

    /// Stops knowing `found` (it stops capturing at once; its group offsets go); false when it is not the
    /// stream of its name any more. Nothing is written.
    func forget(_ found: StreamBox) -> Bool {
        let name = found.name
        // The filters are read before the registry's lock is taken: no lock is held while taking another
        // (docs/concurrency.md).
        let filters = found.configuration.filters
        let removed = state.withLockedValue { state in
            guard state.streams[name] === found else { return false }
            state.streams[name] = nil
            for filter in filters { _ = state.index.remove(filter, member: found) }
            state.groupOffsets = state.groupOffsets.filter { $0.key.stream != name }
            return true
        }
        guard removed else { return false }
        streamCount.wrappingDecrement(ordering: .releasing)
        changed()
        dropWriterClaims(name)
        return true
    }

    /// Removes records from one partition or all: those on subjects `subject` matches (all when nil), below
    /// offset `before`, or all but the newest `keep` (JetStream's purge, Kafka's delete-records). Offsets
    /// are never reused. Completes with how many went.
    package func purge(
        _ name: String, partition: Int? = nil, subject: TopicFilter? = nil, before: UInt64? = nil, keep: Int? = nil,
        completion: @escaping @Sendable (Result<Int, BusError>) -> Void
    ) {
        guard let box = stream(named: name) else { return completion(.failure(.streamNotFound(name))) }
        if box.configuration.limits.sealed { return completion(.failure(.invalidStream("stream \(name) is sealed"))) }
        if let partition, !box.partitions.indices.contains(partition) {
            return completion(.failure(.noPartition(stream: name, partition: partition)))
        }
        var removed = 0
        var writes: [StoreWrite] = []
        for target in box.partitions where partition == nil || target.index == partition {
            let purged = target.purge(subject: subject, before: before, keep: keep)
            removed += purged.count
            guard box.storage == .file else { continue }
            writes.append(.trimStream(stream: name, partition: target.index, before: purged.firstOffset))
            if !purged.holes.isEmpty {
                writes.append(.deleteStreamMessages(stream: name, partition: target.index, offsets: purged.holes))
            }
        }
        let total = removed
        submit(writes) { error in completion(error.map { .failure(.notStored("\($0)")) } ?? .success(total)) }
    }

    /// The bytes of bodies a partition of `configuration` keeps in memory; nil: every body (a `memory`
    /// stream, `.all`).
    func memoryTail(of configuration: StreamConfiguration) -> Int? {
        guard configuration.storage == .file else { return nil }
        switch configuration.memoryTail {
        case .default: return defaultMemoryTail
        case .bytes(let bytes): return bytes
        case .all: return nil
        }
    }

    func partitionBox(
        _ configuration: StreamConfiguration, index: Int, partition: StreamPartition<StreamRecord>
    )
        -> StreamPartitionBox
    {
        var writtenElsewhere: (@Sendable (StreamPartitionBox) -> Void)?
        if sharing != nil && configuration.storage == .file {
            writtenElsewhere = { [weak self] box in self?.claimWriter(box, then: nil) }
        }
        return StreamPartitionBox(
            stream: configuration.name, index: index, partition: partition, memoryTail: memoryTail(of: configuration),
            store: configuration.storage == .file ? store : nil, writtenElsewhere: writtenElsewhere)
    }

    func register(_ box: StreamBox) {
        let filters = box.configuration.filters
        state.withLockedValue { state in
            state.creating.remove(box.name)
            state.streams[box.name] = box
            for filter in filters { state.index.insert(filter, member: box) }
        }
        streamCount.wrappingIncrement(ordering: .releasing)
        changed()
    }

    /// Runs `writes` through the store (completion with nil at once when there is no store or nothing to write).
    func submit(_ writes: [StoreWrite], completion: @escaping @Sendable ((any Error)?) -> Void) {
        guard let store, !writes.isEmpty else { return completion(nil) }
        store.submit(writes, completion: completion)
    }

    // MARK: - Housekeeping

    /// Drops what aged out of every stream; the store drops the same rows.
    package func trimAll(now: UInt64) {
        var writes: [StoreWrite] = []
        for box in list() {
            for partition in box.partitions {
                if let first = partition.trim(now: now), box.storage == .file {
                    writes.append(.trimStream(stream: box.name, partition: partition.index, before: first))
                }
            }
        }
        submit(writes) { _ in }
    }

    /// What `restore` did.
    package struct Restored: Sendable {
        package var streams = 0
        package var messages = 0
        /// Memory streams (and partitions the store lacked) that start a new epoch.
        package var newEpochs = 0
    }

    /// Takes back the stored streams (before any publish): each `file` partition resumes in its epoch after
    /// its newest offset, its records replayed through the limits so what they dropped stays dropped; a
    /// `memory` stream's partitions start empty in new epochs.
    package func restore(_ stored: [StoredStream], offsets: [StoredStreamConsumerOffset]) -> Restored {
        var restored = Restored()
        var writes: [StoreWrite] = []
        let now = clock()
        for stream in stored {
            let configuration = stream.configuration
            guard configuration.problem == nil, self.stream(named: configuration.name) == nil else { continue }
            var partitions: [StreamPartitionBox] = []
            for index in 0..<configuration.partitions {
                let partition: StreamPartition<StreamRecord>
                if configuration.storage == .file, index < stream.partitions.count {
                    let stored = stream.partitions[index]
                    var replayed = Self.replay(stored, limits: configuration.limits, now: now)
                    if stored.messages.isEmpty && !stored.index.isEmpty {
                        // Loaded as its index: the bodies its memory tail holds come back from the store.
                        fillTail(&replayed, configuration, partition: index)
                    }
                    partition = replayed
                    restored.messages += partition.count
                    let offsets = stored.messages.isEmpty ? stored.index.map(\.offset) : stored.messages.map(\.offset)
                    // Rows the replay dropped from the middle (per-subject limits) leave the store too.
                    let holes = offsets.lazy.filter { $0 >= partition.firstOffset && partition.entry(at: $0) == nil }
                    if !holes.isEmpty {
                        writes.append(
                            .deleteStreamMessages(stream: configuration.name, partition: index, offsets: Array(holes)))
                    }
                    if let first = offsets.first, partition.firstOffset > first {
                        writes.append(
                            .trimStream(stream: configuration.name, partition: index, before: partition.firstOffset))
                    }
                } else {
                    let epoch = makeEpoch()
                    partition = StreamPartition(epoch: epoch, limits: configuration.limits)
                    writes.append(
                        .saveStreamPartition(stream: configuration.name, partition: index, epoch: epoch, lastOffset: 0))
                    restored.newEpochs += 1
                }
                partitions.append(partitionBox(configuration, index: index, partition: partition))
            }
            register(StreamBox(configuration: configuration, partitions: partitions))
            restored.streams += 1
        }
        state.withLockedValue { state in
            for offset in offsets {
                state.groupOffsets[GroupKey(group: offset.group, stream: offset.stream, partition: offset.partition)] =
                    offset
            }
        }
        submit(writes) { _ in }
        return restored
    }

    /// Replays a stored partition through the limits: its records (bodies kept), or its index entries
    /// (bodies in the store, `fillTail` reads back the newest).
    static func replay(_ stored: StoredStreamPartition, limits: StreamLimits, now: UInt64)
        -> StreamPartition<StreamRecord>
    {
        let first = stored.messages.first?.offset ?? stored.index.first?.offset
        let start = first.map { $0 - 1 } ?? stored.lastOffset
        var partition = StreamPartition<StreamRecord>(epoch: stored.epoch, limits: limits, lastOffset: start)
        for message in stored.messages where message.offset > partition.lastOffset {
            let record = StreamRecord(message: message.message, key: message.key)
            partition.resume(
                at: message.offset, subject: message.message.topic.name,
                bytes: message.message.payload.readableBytes,
                recordBytes: StreamPartitionBox.recordBytes(of: message.message), time: message.message.timestamp
            ) { _ in record }
        }
        for entry in stored.index where entry.offset > partition.lastOffset {
            partition.resume(
                at: entry.offset, subject: entry.subject, bytes: entry.bytes, recordBytes: entry.recordBytes,
                time: entry.time
            ) { _ in nil }
        }
        partition.resumeLastOffset(stored.lastOffset)
        partition.update(limits: limits, now: now)
        return partition
    }

    /// Reads back from the store the bodies a partition restored from its index keeps in memory: its
    /// newest records up to its memory tail (every record for a stream keeping them all). At start-up,
    /// before any loop serves: the reads are waited for.
    private func fillTail(
        _ partition: inout StreamPartition<StreamRecord>, _ configuration: StreamConfiguration, partition index: Int
    ) {
        guard let store else { return }
        let offsets = partition.newestOffsets(within: memoryTail(of: configuration))
        guard let oldest = offsets.first else { return }
        var bodies: [UInt64: StoredStreamMessage] = [:]
        // A page at a time, so a stream keeping every record is not read in one query.
        for start in stride(from: 0, to: offsets.count, by: 4096) {
            let page = Array(offsets[start..<min(start + 4096, offsets.count)])
            for message in Self.readWaiting(store, configuration.name, partition: index, offsets: page) {
                bodies[message.offset] = message
            }
        }
        partition.restoreElements(from: oldest) { offset in
            bodies[offset].map { StreamRecord(message: $0.message, key: $0.key) }
        }
    }

    /// `Store.readStream`, waited for (start-up only); nothing when it fails (those bodies are read later).
    private static func readWaiting(_ store: any Store, _ stream: String, partition: Int, offsets: [UInt64])
        -> [StoredStreamMessage]
    {
        let done = DispatchSemaphore(value: 0)
        let result = NIOLockedValueBox<[StoredStreamMessage]>([])
        store.readStream(stream, partition: partition, offsets: offsets) { outcome in
            if case .success(let messages) = outcome { result.withLockedValue { $0 = messages } }
            done.signal()
        }
        done.wait()
        return result.withLockedValue { $0 }
    }
}
