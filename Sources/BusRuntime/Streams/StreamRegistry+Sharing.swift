import Atomics
import BusCore
import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// Streams among several instances on one database (PostgreSQL with `shared_instances=true`, docs/storage.md
/// "Several instances on one PostgreSQL database").
///
/// - *Following.* Every stream write sends `StoreOwnedResource.streamChannel` in its transaction; the other
///   instances read the stream again (`StoreSessionOwnership.loadStream`: its definition, and the records
///   above their copy's newest offset) and take it into their copy: a stream created, changed, purged or
///   deleted elsewhere is known here, and readers here get what was appended elsewhere.
/// - *One writer per partition.* Only the instance holding a partition's writer claim (an advisory lock,
///   the claims' lock space) appends to it. An append elsewhere is refused (`StreamAppendRefusal.writtenElsewhere`)
///   and claims the partition; the holder stops appending, waits until what it appended is stored, and
///   lets go; the claim then reads the partition fresh (its newest offset and records) before this
///   instance appends: offsets continue, none is written twice. Kafka REST produce and JetStream publish
///   claim first (`ensureWritable`), so their records wait for the claim instead of being refused.
extension StreamRegistry {
    /// What following and the writer claims keep (under `sharingState`'s lock).
    struct SharingState {
        /// Streams announced and not read yet; true: their deleted records are read too.
        var pending: [String: Bool] = [:]
        var reading = false
        var writers: [WriterKey: WriterClaim] = [:]
    }

    struct WriterKey: Hashable {
        var stream: String
        var partition: Int
    }

    /// One partition's writer claim here.
    struct WriterClaim {
        var held = false
        var claiming = false
        var releasing = false
        /// Something here wants to append (a claim starts once a release in progress ends).
        var wanted = false
        /// Bumped when the claims are lost with the ownership connection: a claim begun before is void.
        var generation = 0
        var waiters: [@Sendable (Bool) -> Void] = []
    }

    /// The claims' kind of a partition's writer claim (`StoreOwnedResource.name(kind:_:)`).
    static let writerKind = "stream-writer"
    /// How long a claim waits for the holder to let go before the appends waiting for it are refused.
    static let writerClaimTimeout = TimeAmount.seconds(2)

    func startSharing(_ sharing: any StoreSessionOwnership) {
        sharing.listen(StoreOwnedResource.streamChannel) { [weak self] payload in
            self?.announced(payload, sharing)
        }
        sharing.onListenResumed { [weak self] in self?.resync(sharing) }
        sharing.onResourceReleaseRequested { [weak self] resource, lost in
            self?.writerReleaseRequested(resource, lost: lost)
        }
    }

    // MARK: - Following the other instances

    /// A stream notification: `<slot>\n<a|c>\n<name>`. This instance's own are ignored (its copy is
    /// what it wrote).
    private func announced(_ payload: String, _ sharing: any StoreSessionOwnership) {
        let parts = payload.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let slot = UInt8(parts[0]) else { return }
        guard slot != sharing.instanceSlot else { return }
        follow([String(parts[2]): parts[1] == "c"], sharing)
    }

    /// The ownership connection is back: every stream may have changed meanwhile, each is read again.
    private func resync(_ sharing: any StoreSessionOwnership) {
        sharing.loadNames(.streams) { [weak self] result in
            guard let self else { return }
            var names: [String: Bool] = [:]
            for box in list() { names[box.name] = true }
            if case .success(let stored) = result { for name in stored { names[name] = true } }
            follow(names, sharing)
        }
    }

    /// Reads `names` again, one stream at a time (those announced meanwhile join the queue).
    func follow(_ names: [String: Bool], _ sharing: any StoreSessionOwnership) {
        let start = sharingState.withLockedValue { state -> Bool in
            state.pending.merge(names) { $0 || $1 }
            guard !state.reading else { return false }
            state.reading = true
            return true
        }
        if start { readNext(sharing) }
    }

    private func readNext(_ sharing: any StoreSessionOwnership) {
        let next = sharingState.withLockedValue { state -> (String, Bool)? in
            guard let first = state.pending.first else {
                state.reading = false
                return nil
            }
            state.pending[first.key] = nil
            return (first.key, first.value)
        }
        guard let (name, kept) = next else { return }
        let local = stream(named: name)
        let points = local?.partitions.map(\.followPoint) ?? []
        sharing.loadStream(
            name, after: points.map(\.lastOffset), epochs: points.map(\.epoch), kept: kept || local == nil
        ) { [weak self] result in
            guard let self else { return }
            if case .success(let change) = result { apply(change, to: name) }
            readNext(sharing)
        }
    }

    /// Takes a stream as the database holds it (nil: deleted) into this instance's copy. Nothing is written.
    func apply(_ change: StoredStreamChange?, to name: String) {
        let local = stream(named: name)
        guard let change else {
            if let local { _ = forget(local) }
            return
        }
        let configuration = change.configuration
        guard let local else {
            // A create here in progress writes the same row: it registers its own copy.
            guard !state.withLockedValue({ $0.creating.contains(name) }) else { return }
            register(adopted(change))
            return
        }
        let old = local.configuration
        if old.partitions != configuration.partitions || old.storage != configuration.storage {
            // Deleted and made again with another shape.
            if forget(local) { register(adopted(change)) }
            return
        }
        let now = clock()
        if old != configuration {
            local.setConfiguration(configuration)
            if old.filters != configuration.filters {
                state.withLockedValue { state in
                    for filter in old.filters { _ = state.index.remove(filter, member: local) }
                    for filter in configuration.filters { state.index.insert(filter, member: local) }
                }
                changed()
            }
            for partition in local.partitions {
                if old.memoryTail != configuration.memoryTail {
                    partition.setMemoryTail(memoryTail(of: configuration))
                }
                _ = partition.update(limits: configuration.limits, now: now)
            }
        }
        // A `memory` stream's records are each instance's own: only its definition is shared.
        guard configuration.storage == .file else { return }
        for (partition, stored) in zip(local.partitions, change.partitions) {
            partition.follow(stored, limits: configuration.limits, now: now)
        }
    }

    /// A stream known from the database: its `file` partitions with the stored records, its `memory` ones
    /// empty in the stored epoch.
    private func adopted(_ change: StoredStreamChange) -> StreamBox {
        let configuration = change.configuration
        let now = clock()
        var partitions: [StreamPartitionBox] = []
        for index in 0..<configuration.partitions {
            var partition: StreamPartition<StreamRecord>
            if index < change.partitions.count {
                let stored = change.partitions[index]
                if configuration.storage == .file {
                    partition = Self.replay(
                        StoredStreamPartition(
                            epoch: stored.epoch, lastOffset: stored.lastOffset, messages: stored.records),
                        limits: configuration.limits, now: now)
                    if stored.trimmedBefore > partition.firstOffset { partition.purge(before: stored.trimmedBefore) }
                } else {
                    partition = StreamPartition(epoch: stored.epoch, limits: configuration.limits)
                }
            } else {
                partition = StreamPartition(epoch: makeEpoch(), limits: configuration.limits)
            }
            partitions.append(partitionBox(configuration, index: index, partition: partition))
        }
        return StreamBox(configuration: configuration, partitions: partitions)
    }

    // MARK: - The writer claims

    /// Calls `then` once every `file` partition of `boxes` may be appended to here (at once, returning
    /// true, when each already may or nobody shares the store; else false, and `then` runs on a thread of
    /// the store's once the claims are had or have failed — an append then is refused as usual).
    package func ensureWritable(_ boxes: [StreamBox], then: @escaping @Sendable () -> Void) -> Bool {
        guard sharing != nil else { return true }
        let waiting = boxes.flatMap(\.partitions).filter { $0.writtenElsewhere != nil && !$0.isWritable }
        guard !waiting.isEmpty else { return true }
        let remaining = ManagedAtomic(waiting.count)
        for partition in waiting {
            claimWriter(partition) { _ in
                if remaining.wrappingDecrementThenLoad(ordering: .acquiringAndReleasing) == 0 { then() }
            }
        }
        return false
    }

    /// Claims `partition`'s writer claim (once: a claim in progress is joined); `then` gets whether it is
    /// held and the partition read fresh.
    func claimWriter(_ partition: StreamPartitionBox, then: (@Sendable (Bool) -> Void)?) {
        let key = WriterKey(stream: partition.stream, partition: partition.index)
        let start = sharingState.withLockedValue { state -> (start: Int?, ready: Bool) in
            var claim = state.writers[key, default: WriterClaim()]
            defer { state.writers[key] = claim }
            if claim.held && !claim.releasing && !claim.claiming { return (nil, true) }
            if let then { claim.waiters.append(then) }
            claim.wanted = true
            guard !claim.claiming && !claim.releasing else { return (nil, false) }
            claim.claiming = true
            return (claim.generation, false)
        }
        if start.ready {
            // Held: writable unless lost meanwhile (then the next append claims again).
            then?(partition.isWritable)
            return
        }
        if let generation = start.start { startClaim(key, generation: generation) }
    }

    private static func resource(_ key: WriterKey) -> String {
        StoreOwnedResource.name(kind: writerKind, key.stream + "\u{0}" + String(key.partition))
    }

    private func startClaim(_ key: WriterKey, generation: Int) {
        guard let sharing else { return }
        sharing.claim(Self.resource(key), timeout: Self.writerClaimTimeout) { [weak self] held in
            guard let self else { return }
            guard held else { return finishClaim(key, held: false) }
            let current = sharingState.withLockedValue { state -> Bool in
                guard state.writers[key]?.generation == generation else { return false }
                state.writers[key]?.held = true
                return true
            }
            guard current, let box = stream(named: key.stream), box.partitions.indices.contains(key.partition) else {
                sharingState.withLockedValue { $0.writers[key]?.held = false }
                sharing.release(Self.resource(key))
                return finishClaim(key, held: false)
            }
            // Read fresh with the claim held: everything the last writer appended is stored (it let go
            // only then), so offsets continue after it.
            let points = box.partitions.map(\.followPoint)
            sharing.loadStream(
                key.stream, after: points.map(\.lastOffset), epochs: points.map(\.epoch), kept: false
            ) { [weak self] result in
                guard let self else { return }
                guard case .success(let change) = result, let change else {
                    // Not read (or deleted meanwhile): this instance cannot know where offsets continue.
                    sharingState.withLockedValue { $0.writers[key]?.held = false }
                    sharing.release(Self.resource(key))
                    return finishClaim(key, held: false)
                }
                apply(change, to: key.stream)
                let still = sharingState.withLockedValue { $0.writers[key]?.generation == generation }
                if still, let current = stream(named: key.stream), current.partitions.indices.contains(key.partition) {
                    current.partitions[key.partition].setWritable(true)
                }
                finishClaim(key, held: still)
            }
        }
    }

    private func finishClaim(_ key: WriterKey, held: Bool) {
        let waiters = sharingState.withLockedValue { state -> [@Sendable (Bool) -> Void] in
            guard var claim = state.writers[key] else { return [] }
            defer { state.writers[key] = claim }
            claim.claiming = false
            claim.wanted = false
            defer { claim.waiters = [] }
            return claim.waiters
        }
        for waiter in waiters { waiter(held) }
    }

    /// Another instance asks for a writer claim held here (`lost` false), or the ownership connection
    /// went with every claim (`lost` true).
    private func writerReleaseRequested(_ resource: String, lost: Bool) {
        let prefix = StoreOwnedResource.name(kind: Self.writerKind, "")
        guard resource.hasPrefix(prefix) else { return }
        let rest = resource.dropFirst(prefix.count)
        guard let separator = rest.lastIndex(of: "\u{0}"), let index = Int(rest[rest.index(after: separator)...])
        else { return }
        let key = WriterKey(stream: String(rest[..<separator]), partition: index)
        let partition = stream(named: key.stream).flatMap { box in
            box.partitions.indices.contains(index) ? box.partitions[index] : nil
        }
        if lost {
            // The lock is gone: stop appending at once; the next append claims again.
            sharingState.withLockedValue { state in
                state.writers[key]?.held = false
                state.writers[key]?.releasing = false
                state.writers[key]?.generation += 1
            }
            partition?.setWritable(false)
            return
        }
        let letGo = sharingState.withLockedValue { state -> Bool in
            guard var claim = state.writers[key], claim.held, !claim.releasing, !claim.claiming else { return false }
            claim.releasing = true
            state.writers[key] = claim
            return true
        }
        guard letGo else { return }
        partition?.setWritable(false)
        release(key, partition)
    }

    /// Lets go of `key` once every record appended here to it is stored: a barrier write commits after
    /// every write submitted before it, and the loops submit what they appended at their next hand-off,
    /// so it is repeated until the partition has nothing unstored.
    private func release(_ key: WriterKey, _ partition: StreamPartitionBox?) {
        guard let sharing else { return }
        let barrier = StoreWrite.notify(
            channel: StoreOwnedResource.streamChannel, payload: "\(sharing.instanceSlot)\na\n\(key.stream)")
        submit([barrier]) { [weak self] _ in
            guard let self else { return }
            if partition?.hasUnstored == true { return release(key, partition) }
            sharing.release(Self.resource(key))
            let again = sharingState.withLockedValue { state -> Int? in
                guard var claim = state.writers[key] else { return nil }
                defer { state.writers[key] = claim }
                claim.held = false
                claim.releasing = false
                guard claim.wanted, !claim.claiming else { return nil }
                claim.claiming = true
                return claim.generation
            }
            if let generation = again { startClaim(key, generation: generation) }
        }
    }

    /// Lets go of the writer claims held on `name`'s partitions (the stream went).
    func dropWriterClaims(_ name: String) {
        guard let sharing else { return }
        let held = sharingState.withLockedValue { state -> [WriterKey] in
            let keys = state.writers.keys.filter { $0.stream == name }
            defer { for key in keys { state.writers[key] = nil } }
            return keys.filter { state.writers[$0]?.held == true }
        }
        for key in held { sharing.release(Self.resource(key)) }
    }
}
