package import BusCore
import NIOConcurrencyHelpers
import NIOCore
import SchemaKit
import Storage

extension RecordCollections {
    /// What a committed change was, for its event.
    package enum Change: String, Sendable {
        case create, update, delete
    }

    // MARK: - Collections

    /// Creates `definition`'s collection, or replaces the definition of an existing one when `replace`
    /// (its records stay). Completes once stored.
    package func saveCollection(
        _ definition: RecordCollectionDefinition, replace: Bool,
        completion: @escaping @Sendable (Result<RecordCollectionDefinition, RecordError>) -> Void
    ) {
        let compiled: Collection
        do throws(RecordError) {
            compiled = try Self.compile(definition)
        } catch {
            return completion(.failure(error))
        }
        let loop = homeLoop(definition.name)
        let refusal: RecordError? = core.withLockedValue { core in
            if let existing = core.collections[definition.name] {
                guard replace else { return .exists("A collection named \"\(definition.name)\" exists already.") }
                var updated = compiled
                updated.records = existing.records
                updated.pending = existing.pending
                core.collections[definition.name] = updated
            } else {
                core.collections[definition.name] = compiled
            }
            // Stored under the lock, so the store sees a collection's changes in the order they were made.
            commit([.saveCollection(StoredCollection(name: definition.name, definition: definition.json))]) { error in
                loop.execute {
                    if let error { return completion(.failure(error)) }
                    self.ensureFeed(definition.name) { completion(.success(definition)) }
                }
            }
            return nil
        }
        if let refusal { completion(.failure(refusal)) }
    }

    /// Deletes a collection and its records. Completes once stored.
    package func deleteCollection(_ name: String, completion: @escaping @Sendable (Result<Void, RecordError>) -> Void) {
        let loop = homeLoop(name)
        let existed = core.withLockedValue { core in
            guard let removed = core.collections.removeValue(forKey: name) else { return false }
            core.count -= removed.records.count
            commit([.deleteCollection(name: name)]) { error in
                loop.execute {
                    if let error { return completion(.failure(error)) }
                    self.dropFeed(name) { completion(.success(())) }
                }
            }
            return true
        }
        if !existed { completion(.failure(.collectionNotFound)) }
    }

    // MARK: - Records

    /// Creates a record from `body` (a JSON object; `id` optional, other system fields ignored).
    package func create(
        _ name: String, body: JSONValue, caller: RecordCaller, now: UInt64,
        completion: @escaping @Sendable (Result<Record, RecordError>) -> Void
    ) {
        // One instance decides at once, on its copy in memory (RecordCollections+Sharing.swift otherwise).
        guard sharing != nil else {
            return decideCreate(name, body: body, caller: caller, now: now, completion: completion)
        }
        var given: String?
        if case .string(let text)? = body["id"] { given = text }
        sharedChange(name, id: given, completion: completion) { completion in
            self.decideCreate(name, body: body, caller: caller, now: now, completion: completion)
        }
    }

    private func decideCreate(
        _ name: String, body: JSONValue, caller: RecordCaller, now: UInt64,
        completion: @escaping @Sendable (Result<Record, RecordError>) -> Void
    ) {
        decide(name, changedBy: caller.changedBy, completion: completion, creation(name, body, caller, now))
    }

    /// How a create is decided on a collection's newest accepted state.
    func creation(_ name: String, _ body: JSONValue, _ caller: RecordCaller, _ now: UInt64) -> Decision {
        { collection throws(RecordError) in
            guard case .object(let members) = body else { throw .badRequest("Failed to read the submitted data.") }
            let access = try collection.rules.access(.create, caller)
            var id = self.makeID()
            if let given = body["id"] {
                guard case .string(let text) = given, RecordCollectionDefinition.isValidRecordID(text) else {
                    throw .invalidField("id", "Must be 1 to 64 letters, digits, _ or -.")
                }
                id = text
            }
            guard collection.latest(id) == nil else {
                throw .invalidField("id", "The id is invalid or already exists.")
            }
            let fields = members.filter { !Record.systemFields.contains($0.key) }
            try collection.validate(fields)
            let record = Record(collection: name, id: id, version: 1, created: now, updated: now, fields: fields)
            // The create rule sees the record as it would be stored, and the submitted body (its context is
            // made only for a rule that is an expression).
            if let filter = access.filter,
                !filter.matches(record.document, request: RecordRuleSet.context(caller, body: body, now: now))
            {
                throw .badRequest("Failed to create record.")
            }
            return (id, record, .create)
        }
    }

    /// Changes the fields `body` names (PocketBase's update: the others stay); `ifMatch` refuses the change
    /// unless the record is at that version.
    package func update(
        _ name: String, id: String, body: JSONValue, ifMatch: UInt64?, caller: RecordCaller, now: UInt64,
        completion: @escaping @Sendable (Result<Record, RecordError>) -> Void
    ) {
        guard sharing != nil else {
            return decideUpdate(
                name, id: id, body: body, ifMatch: ifMatch, caller: caller, now: now, completion: completion)
        }
        sharedChange(name, id: id, completion: completion) { completion in
            self.decideUpdate(
                name, id: id, body: body, ifMatch: ifMatch, caller: caller, now: now, completion: completion)
        }
    }

    private func decideUpdate(
        _ name: String, id: String, body: JSONValue, ifMatch: UInt64?, caller: RecordCaller, now: UInt64,
        completion: @escaping @Sendable (Result<Record, RecordError>) -> Void
    ) {
        decide(
            name, changedBy: caller.changedBy, completion: completion,
            updating(name, id: id, body, ifMatch: ifMatch, caller, now))
    }

    /// How an update is decided on a collection's newest accepted state.
    func updating(
        _ name: String, id: String, _ body: JSONValue, ifMatch: UInt64?, _ caller: RecordCaller, _ now: UInt64
    ) -> Decision {
        { collection throws(RecordError) in
            guard case .object(let members) = body else { throw .badRequest("Failed to read the submitted data.") }
            let access = try collection.rules.access(.update, caller)
            guard let current = collection.latest(id),
                access.allows(current.document, RecordRuleSet.context(caller, body: body, now: now))
            else { throw .recordNotFound }
            if let ifMatch, ifMatch != current.version { throw .versionConflict(current: current.version) }
            var fields = current.fields
            for member in members where !Record.systemFields.contains(member.key) {
                if let index = fields.firstIndex(where: { $0.key == member.key }) {
                    fields[index].value = member.value
                } else {
                    fields.append(member)
                }
            }
            try collection.validate(fields)
            let record = Record(
                collection: name, id: id, version: current.version + 1, created: current.created,
                updated: max(now, current.updated), fields: fields)
            return (id, record, .update)
        }
    }

    /// Deletes a record; `ifMatch` as for `update`.
    package func delete(
        _ name: String, id: String, ifMatch: UInt64?, caller: RecordCaller, now: UInt64,
        completion: @escaping @Sendable (Result<Record, RecordError>) -> Void
    ) {
        guard sharing != nil else {
            return decideDelete(name, id: id, ifMatch: ifMatch, caller: caller, now: now, completion: completion)
        }
        sharedChange(name, id: id, completion: completion) { completion in
            self.decideDelete(name, id: id, ifMatch: ifMatch, caller: caller, now: now, completion: completion)
        }
    }

    private func decideDelete(
        _ name: String, id: String, ifMatch: UInt64?, caller: RecordCaller, now: UInt64,
        completion: @escaping @Sendable (Result<Record, RecordError>) -> Void
    ) {
        decide(
            name, changedBy: caller.changedBy, completion: completion,
            deletion(name, id: id, ifMatch: ifMatch, caller, now))
    }

    /// How a delete is decided on a collection's newest accepted state.
    func deletion(_ name: String, id: String, ifMatch: UInt64?, _ caller: RecordCaller, _ now: UInt64) -> Decision {
        { collection throws(RecordError) in
            let access = try collection.rules.access(.delete, caller)
            guard let current = collection.latest(id),
                access.allows(current.document, RecordRuleSet.context(caller, body: nil, now: now))
            else { throw .recordNotFound }
            if let ifMatch, ifMatch != current.version { throw .versionConflict(current: current.version) }
            return (id, current, .delete)
        }
    }

    /// How a change is decided on a collection's newest accepted state: the record's id, its new state and
    /// the change; or the refusal.
    typealias Decision = (Collection) throws(RecordError) -> (id: String, record: Record, change: Change)

    /// A decided change, accepted as the newest state of its record (`accept`).
    struct Accepted {
        var name: String
        var slot: [String: Collection].Index
        var id: String
        var record: Record
        var change: Change
        /// The record's pending entry before this change (`withdraw` puts it back).
        var before: (record: Record?, count: Int)?
    }

    /// Decides a change on the newest accepted state (under the lock, so changes of one record queue up in
    /// order), stores it, then — on the collection's home loop, in commit order — applies it, publishes its
    /// event and answers.
    private func decide(
        _ name: String, changedBy: String, completion: @escaping @Sendable (Result<Record, RecordError>) -> Void,
        _ body: Decision
    ) {
        let loop = homeLoop(name)
        let refusal: RecordError? = core.withLockedValue { core in
            let accepted: Accepted
            do throws(RecordError) {
                accepted = try accept(name, body, in: &core)
            } catch {
                return error
            }
            let prepared = prepare(accepted, changedBy: changedBy, in: &core)
            // Submitted under the lock: the store commits changes in the order they were decided (a later
            // version is never overwritten by an earlier one), and its completions come in that order. The
            // completion only hops to the home loop, never takes the lock (a memory store completes at once).
            commit(prepared.writes) { error in
                loop.execute {
                    self.finish(accepted, prepared, failure: error, on: loop)
                    completion(error.map { .failure($0) } ?? .success(accepted.record))
                }
            }
            return nil
        }
        if let refusal { completion(.failure(refusal)) }
    }

    /// Decides `body` on collection `name` and takes the result as its record's newest accepted state
    /// (counted against `maxRecords` when it creates one). Under the lock.
    func accept(_ name: String, _ body: Decision, in core: inout Core) throws(RecordError) -> Accepted {
        // The collection is read and changed in place through its slot: a copy held while `pending`
        // changed made that dictionary copy itself (all its capacity) on every change, and each
        // `collections[name]` hashed the name again.
        guard let slot = core.collections.index(forKey: name) else { throw .collectionNotFound }
        let (id, record, change) = try body(core.collections.values[slot])
        if change == .create {
            guard core.count < maxRecords else {
                throw .badRequest(
                    "Failed to create record: the server keeps at most \(maxRecords) records (limits.max_records).")
            }
            core.count += 1
        }
        let before = core.collections.values[slot].pending[id]
        core.collections.values[slot].pending[id] = (change == .delete ? nil : record, (before?.count ?? 0) + 1)
        return Accepted(name: name, slot: slot, id: id, record: record, change: change, before: before)
    }

    /// Takes back an accepted change that is not stored after all (a batch refused by a later member), as
    /// if it had never been accepted. Changes are withdrawn newest first. Under the lock.
    func withdraw(_ accepted: Accepted, in core: inout Core) {
        if accepted.change == .create { core.count -= 1 }
        core.collections.values[accepted.slot].pending[accepted.id] = accepted.before
    }

    /// What storing an accepted change takes: its writes (the record and its feed event), the event to
    /// publish once stored, and the feed's appends to finish.
    struct Prepared {
        var writes: [StoreWrite]
        var event: BusMessage?
        var feed: FeedAppend
        var handover: PreparedHandover
    }

    /// The writes of an accepted change, its feed appends prepared. Under the lock.
    func prepare(_ accepted: Accepted, changedBy: String, in core: inout Core) -> Prepared {
        let (name, slot, id, record, change) =
            (accepted.name, accepted.slot, accepted.id, accepted.record, accepted.change)
        var writes: [StoreWrite] = [
            change == .delete
                ? .deleteRecord(collection: name, id: id)
                : .saveRecord(
                    StoredRecord(
                        collection: name, id: id, version: record.version, created: record.created,
                        updated: record.updated, fields: record.fieldsJSON))
        ]
        // The event goes into the collection's feed (and any other durable stream capturing it) in the
        // change's own commit: one commit per change, and no crash keeps the record without its event
        // or the event without the record. Appended here, under the lock, the events take their feed
        // offsets in the order the changes are committed.
        let event = self.event(record, change: change, changedBy: changedBy)
        let feed =
            event.map { self.appendToFeed($0, cached: &core.collections.values[slot].durableStreams) }
            ?? FeedAppend()
        writes.append(contentsOf: StreamRegistry.writes(forOneMessage: feed.prepared))
        return Prepared(writes: writes, event: event, feed: feed, handover: PreparedHandover(value: feed.prepared))
    }

    /// A change's store answer, on its collection's home loop `loop`: the change becomes what readers see
    /// (or is forgotten), its feed records readable (or holes), and its event published once stored.
    func finish(_ accepted: Accepted, _ prepared: Prepared, failure: RecordError?, on loop: any EventLoop) {
        settle(accepted.name, id: accepted.id, record: accepted.record, change: accepted.change, failed: failure != nil)
        // The feed's copy becomes readable (or, failed, a hole) once the record is visible, so a follower
        // never hears of a record that a read would not find.
        _ = StreamRegistry.finish(prepared.handover.value, failure: failure)
        if failure == nil, let event = prepared.event { publish(event, storedIn: prepared.feed.streams, on: loop) }
    }

    /// Applies a stored change to what readers see, or forgets a failed one.
    private func settle(_ name: String, id: String, record: Record, change: Change, failed: Bool) {
        core.withLockedValue { core in
            // The count: a failed create gives its place back, a delete frees one; a create whose collection
            // was deleted meanwhile went with it (the delete counted only the committed records).
            let slot = core.collections.index(forKey: name)
            if change == .create && (failed || slot == nil) { core.count -= 1 }
            guard let slot else { return }
            if change == .delete && !failed { core.count -= 1 }
            if !failed {
                core.collections.values[slot].records[id] = change == .delete ? nil : record
            }
            if let pending = core.collections.values[slot].pending[id] {
                // A failed change's successors were decided on it; they fail too (the store refuses every
                // batch until it recovers), so the pending state is dropped with the last of them.
                core.collections.values[slot].pending[id] =
                    pending.count > 1 ? (pending.record, pending.count - 1) : nil
            }
        }
    }

    /// The change's event on `collections/<collection>/<id>`:
    /// `{"action":"create|update|delete","record":{…},"changed_by":"…"}` (nil: the name makes no topic).
    func event(_ record: Record, change: Change, changedBy: String) -> BusMessage? {
        guard let topic = try? Topic("collections/\(record.collection)/\(record.id)") else { return nil }
        var payload = ByteBuffer()
        payload.reserveCapacity(record.json.utf8.count + 64)
        payload.writeStaticString("{\"action\":\"")
        payload.writeString(change.rawValue)
        payload.writeStaticString("\",\"record\":")
        payload.writeString(record.json)
        payload.writeStaticString(",\"changed_by\":")
        payload.writeJSONString(changedBy)
        payload.writeInteger(UInt8(ascii: "}"))
        return BusMessage(
            topic: topic, payload: payload, headers: MessageHeaders(contentType: "application/json"),
            timestamp: bus.clock(), payloadForm: .json)
    }

    /// A change's event appended to the durable (`file`) streams capturing it — the collection's feed —
    /// before the change is stored: their records wait for the change's commit (`StreamRegistry.finish`).
    struct FeedAppend {
        var streams: [StreamBox] = []
        var prepared: [StreamRegistry.PreparedAppend] = []
    }

    /// `cached`: the collection's `durableStreams`, used when still current and kept up to date.
    func appendToFeed(_ event: BusMessage, cached: inout (generation: UInt64, streams: [StreamBox])?) -> FeedAppend {
        // Without a store a stream keeps nothing to commit with the change: it captures at the publish.
        guard store != nil, bus.streams.store != nil else { return FeedAppend() }
        // Read before matching: a stream registered meanwhile bumps it after, so the entry goes stale.
        let generation = bus.registry.generation
        let durable: [StreamBox]
        if let cached, cached.generation == generation {
            durable = cached.streams
        } else {
            let matching = bus.streams.matchingNamingLastLevel(event.topic)
            durable = matching.streams.filter { $0.storage == .file }
            cached = matching.namesLastLevel ? nil : (generation, durable)
        }
        guard !durable.isEmpty else { return FeedAppend() }
        return FeedAppend(
            streams: durable, prepared: bus.streams.prepareAppends(event, streams: durable, placement: nil))
    }

    /// Publishes a committed change's event from `loop` (a bus loop); `streams` have it already.
    func publish(_ event: BusMessage, storedIn streams: [StreamBox], on loop: any EventLoop) {
        bus.shard(for: loop).publish(event, storedIn: streams)
    }

    /// Stores `writes` (at once without a store), answering with a store failure as `unavailable`.
    func commit(_ writes: [StoreWrite], completion: @escaping @Sendable (RecordError?) -> Void) {
        guard let store else { return completion(nil) }
        store.submit(writes) { error in completion(error.map { .unavailable("\($0)") }) }
    }
}

extension RecordCollections.Collection {
    /// The record's own fields against the collection's schema (400 naming the first violation).
    func validate(_ fields: [JSONField]) throws(RecordError) {
        guard let schema else { return }
        if let first = schema.violations(of: .object(fields)).first {
            // The violation's JSON Pointer as the dotted field name records errors use (`/a/b` → `a.b`).
            let field = first.path.isEmpty ? "$" : first.path.dropFirst().split(separator: "/").joined(separator: ".")
            throw .invalidField(field, first.message)
        }
    }
}
