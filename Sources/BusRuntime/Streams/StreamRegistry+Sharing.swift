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
    /// What following the other instances keeps (under `sharingState`'s lock).
    struct SharingState {
        /// Streams announced and not read yet; true: their deleted records are read too.
        var pending: [String: Bool] = [:]
        var reading = false
    }

    /// How long a claim waits for the holder to let go before the appends waiting for it are refused.
    static let writerClaimTimeout = TimeAmount.seconds(2)

    func startSharing(_ sharing: any StoreSessionOwnership) {
        sharing.listen(StoreOwnedResource.streamChannel) { [weak self] payload in
            self?.announced(payload, sharing)
        }
        sharing.onListenResumed { [weak self] in self?.resync(sharing) }
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
        writerClaims?.claim(Self.writerName(partition.stream, partition.index), then: then)
    }

    /// A partition's name among the writer claims: the stream's, U+0000, the partition's index.
    private static func writerName(_ stream: String, _ partition: Int) -> String {
        stream + "\u{0}" + String(partition)
    }

    /// The stream and the partition a writer claim's name is (`writerName`).
    private func writerPartition(_ name: String) -> (box: StreamBox, partition: StreamPartitionBox)? {
        guard let separator = name.lastIndex(of: "\u{0}"), let index = Int(name[name.index(after: separator)...]),
            let box = stream(named: String(name[..<separator])), box.partitions.indices.contains(index)
        else { return nil }
        return (box, box.partitions[index])
    }

    /// The writer claims of the partitions (`SharedWriterClaims`, kind `StoreOwnedResource.streamWriterKind`).
    static func makeWriterClaims(
        _ registry: @escaping @Sendable () -> StreamRegistry?, sharing: any StoreSessionOwnership, store: any Store
    ) -> SharedWriterClaims {
        let hooks = SharedWriterClaims.Hooks(
            readFresh: { name, done in
                guard let registry = registry(), let (box, _) = registry.writerPartition(name) else {
                    return done(false)
                }
                let points = box.partitions.map(\.followPoint)
                sharing.loadStream(
                    box.name, after: points.map(\.lastOffset), epochs: points.map(\.epoch), kept: false
                ) { result in
                    // Not read (or deleted meanwhile): this instance cannot know where offsets continue.
                    guard case .success(let change) = result, let change else { return done(false) }
                    registry.apply(change, to: box.name)
                    done(true)
                }
            },
            setWritable: { name, writable in
                // The partition as it is now (the fresh read may have made the stream again).
                registry()?.writerPartition(name)?.partition.setWritable(writable)
            },
            hasUnstored: { name in registry()?.writerPartition(name)?.partition.hasUnstored ?? false })
        return SharedWriterClaims(
            kind: StoreOwnedResource.streamWriterKind, timeout: writerClaimTimeout, sharing: sharing, store: store,
            hooks: hooks)
    }

    /// Lets go of the writer claims held on `name`'s partitions (the stream went).
    func dropWriterClaims(_ name: String) {
        writerClaims?.drop(prefix: name + "\u{0}")
    }
}
