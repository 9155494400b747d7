import BusCore
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// Record collections among several instances sharing one PostgreSQL database (`shared_instances=true`,
/// docs/storage.md "Records"). Each instance keeps its copy of the records in memory, as one instance
/// does; two rules keep the copies true to the database:
///
/// - *A change is decided on the record as the database holds it.* Before an update, a delete or a
///   create with a given id, the instance claims the record (an advisory lock in the claims' lock space,
///   U+0000 `record` U+0000 collection U+0000 id), reads it fresh, decides the change on it (`If-Match`
///   included) and lets go once the change is durable. So two instances changing one record take turns,
///   and neither decides on a version the other has already replaced.
/// - *Every change is announced.* Each record write sends `StoreOwnedResource.recordChannel` in its
///   transaction; every instance reads the records announced again (one batch at a time), so a view or
///   list anywhere shows a change a notification's round trip after it committed. A collection's own
///   change announces its name alone: every instance reads the collection again (`collectionLoaded`).
///
/// Without the flag none of this runs: a change is decided on the copy in memory at once.
extension RecordCollections {
    /// How long a change waits for a record another instance is changing: that instance lets go as soon
    /// as its change is durable, so only a store that stopped answering makes it wait this long.
    static let claimTimeout = TimeAmount.seconds(5)

    var sharing: (any StoreSessionOwnership)? { store?.sessionOwnership }

    /// Runs `change` (which answers through the completion it is given) with record `id` of collection
    /// `name` claimed and read fresh, when instances share the store (at once otherwise, or without an
    /// id: a new record's random id is nobody else's). The claim goes once the answer is known: after the
    /// change is durable, or refused.
    func sharedChange(
        _ name: String, id: String?, completion: @escaping @Sendable (Result<Record, RecordError>) -> Void,
        _ change: @escaping @Sendable (@escaping @Sendable (Result<Record, RecordError>) -> Void) -> Void
    ) {
        guard let sharing, let id else { return change(completion) }
        let claim = StoreOwnedResource.name(kind: "record", name + "\u{0}" + id)
        sharing.claim(claim, timeout: Self.claimTimeout) { [self] held in
            guard held else {
                // 503 "The change could not be stored: the record is being changed …" (RecordJSON).
                return completion(
                    .failure(.unavailable("the record is being changed on another instance sharing the database")))
            }
            sharing.loadRecords([(name, id)]) { [self] result in
                guard case .success(let stored) = result else {
                    sharing.release(claim)
                    return completion(.failure(.unavailable("the record could not be read from the store")))
                }
                // A read that began before a change of this record committed here may come back after
                // it settled: the newer copy stays.
                refresh([(name, id)], stored: stored, keepingNewer: true)
                change { outcome in
                    sharing.release(claim)
                    completion(outcome)
                }
            }
        }
    }

    // MARK: - Changes made anywhere

    /// Listens for record changes committed by any instance sharing the store (call once, at start).
    func watchSharedChanges() {
        guard let sharing else { return }
        let state = NIOLockedValueBox((pending: Set<String>(), reading: false))
        @Sendable func read() {
            let keys = state.withLockedValue { state -> [(collection: String, id: String)] in
                defer { state.pending.removeAll() }
                return state.pending.compactMap { key in
                    let parts = key.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
                    return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
                }
            }
            sharing.loadRecords(keys) { [self] result in
                if case .success(let stored) = result { refresh(keys, stored: stored) }
                let again = state.withLockedValue { state -> Bool in
                    // A failed read is not retried: the next change of those records reads them.
                    guard !state.pending.isEmpty, case .success = result else {
                        state.reading = false
                        return false
                    }
                    return true
                }
                if again { read() }
            }
        }
        sharing.onListenResumed { [self] in resync(sharing) }
        sharing.listen(StoreOwnedResource.recordChannel) { [self] key in
            // A collection's own change: read with its records.
            guard key.contains("\n") else {
                return sharing.loadCollection(key) { [self] result in
                    if case .success(let (definition, records)) = result {
                        collectionLoaded(key, definition: definition, records: records)
                    }
                }
            }
            let start = state.withLockedValue { state -> Bool in
                state.pending.insert(key)
                guard !state.reading else { return false }
                state.reading = true
                return true
            }
            if start { read() }
        }
    }

    /// Takes the records `keys` name as the database holds them (`stored`; a key not in it: deleted) into
    /// what readers see, and into the count of records. Changes accepted here and not yet committed stay
    /// in front (`latest`).
    /// `keepingNewer`: a copy here of the same record (same creation time) at a later version stays.
    func refresh(_ keys: [(collection: String, id: String)], stored: [StoredRecord], keepingNewer: Bool = false) {
        var found: [String: [String: StoredRecord]] = [:]
        for record in stored { found[record.collection, default: [:]][record.id] = record }
        core.withLockedValue { core in
            for (name, id) in keys where core.collections[name] != nil {
                let record = found[name]?[id].flatMap(Self.record(from:))
                let before = core.collections[name]!.records[id]
                if keepingNewer, let before, let record, before.created == record.created,
                    before.version > record.version
                {
                    continue
                }
                core.collections[name]!.records[id] = record
                // Changes of the record in flight here count themselves when they settle.
                guard core.collections[name]!.pending[id] == nil else { continue }
                switch (before == nil, record == nil) {
                case (true, false): core.count += 1
                case (false, true): core.count -= 1
                default: break
                }
            }
        }
    }

    /// A collection another instance created, changed or deleted (or this one: then it is as here), as
    /// the database holds it. Created: taken up with its records (no feed here: streams are read at
    /// start). Changed: its definition replaces this copy's, the records stay. Deleted: gone here too.
    func collectionLoaded(_ name: String, definition stored: StoredCollection?, records: [StoredRecord]) {
        guard let stored else {
            core.withLockedValue { core in
                guard let removed = core.collections.removeValue(forKey: name) else { return }
                core.count -= removed.records.count
            }
            return
        }
        guard let value = try? JSONValue.parse(stored.definition),
            let definition = try? RecordCollectionDefinition(json: value, name: name),
            let compiled = try? Self.compile(definition)
        else { return }
        core.withLockedValue { core in
            var collection = compiled
            if let existing = core.collections[name] {
                collection.records = existing.records
                collection.pending = existing.pending
            } else {
                for stored in records { collection.records[stored.id] = Self.record(from: stored) }
                core.count += collection.records.count
            }
            core.collections[name] = collection
        }
    }

    /// A stored record as readers see it (nil: its fields no longer parse).
    static func record(from stored: StoredRecord) -> Record? {
        guard case .object(let fields)? = try? JSONValue.parse(stored.fields) else { return nil }
        return Record(
            collection: stored.collection, id: stored.id, version: stored.version, created: stored.created,
            updated: stored.updated, fields: fields)
    }

    /// The ownership connection is back after it was lost (its notifications with it): every collection,
    /// here or in the database, is read again with its records.
    private func resync(_ sharing: any StoreSessionOwnership) {
        sharing.loadNames(.collections) { [self] result in
            var names = Set(core.withLockedValue { Array($0.collections.keys) })
            if case .success(let stored) = result { names.formUnion(stored) }
            for name in names {
                sharing.loadCollection(name) { [self] result in
                    guard case .success(let (definition, records)) = result else { return }
                    collectionLoaded(name, definition: definition, records: records)
                    guard definition != nil else { return }
                    let local = core.withLockedValue { $0.collections[name].map { Array($0.records.keys) } ?? [] }
                    let ids = Set(local).union(records.map(\.id))
                    refresh(ids.map { (name, $0) }, stored: records)
                }
            }
        }
    }
}
