package import BusCore
import DequeModule
import NIOConcurrencyHelpers
package import NIOCore
import SchemaKit
package import Storage

/// Record collections (issue 20, docs/records.md): JSON records kept in the store, changed through one
/// API (HTTP, MCP, CLI), each committed change published on the bus as an event on
/// `collections/<collection>/<id>` — after it is stored, in commit order — so every protocol follows
/// changes and recovers missed ones from the topics' history.
///
/// Records are held in memory (restored from the store at start) and written through with the store's
/// group commit: a change is answered, and becomes visible to readers, once it is durable. Each change is
/// decided on the newest accepted state (so two quick updates of one record both apply, and `If-Match`
/// sees the version the previous change made), then stored; the store's completion hops to the
/// collection's home loop, where changes are applied and published one after another, in commit order.
///
/// Locks (docs/concurrency.md): `core` only; the store is never called with it held.
package final class RecordCollections: @unchecked Sendable {
    struct Collection: Sendable {
        var definition: RecordCollectionDefinition
        var rules: RecordRuleSet
        var schema: JSONSchema?
        /// Committed records by id (what readers see).
        var records: [String: Record] = [:]
        /// Changes accepted and not yet committed, newest state per id (nil: deleted), with how many are
        /// in flight.
        var pending: [String: (record: Record?, count: Int)] = [:]
        /// The `file` streams capturing the collection's record topics (its feed), as of a subscription
        /// registry generation (a stream created, changed or deleted bumps it): a change's event is appended
        /// to them without matching its topic again. nil: not known yet, or a stream's filter names single
        /// records (each change then matches its own topic).
        var durableStreams: (generation: UInt64, streams: [StreamBox])?

        /// The newest accepted state of `id`.
        func latest(_ id: String) -> Record? {
            if let pending = pending[id] { return pending.record }
            return records[id]
        }
    }

    struct Core: Sendable {
        var collections: [String: Collection] = [:]
        /// Records across collections, committed or being created (the `maxRecords` bound).
        var count = 0
    }

    let core = NIOLockedValueBox(Core())
    let store: (any Store)?
    let makeID: @Sendable () -> String
    /// Most records across all collections (`BusConfiguration.maxRecords`).
    let maxRecords: Int
    /// Set once by `Bus.init` (before any use; never changed after, hence `@unchecked Sendable`); the bus
    /// owns this service and outlives it.
    unowned(unsafe) var busReference: Bus?
    var bus: Bus { busReference.unsafelyUnwrapped }

    init(store: (any Store)?, maxRecords: Int = 1_000_000, makeID: (@Sendable () -> String)? = nil) {
        self.store = store
        self.maxRecords = maxRecords
        let ordered = RecordIDGenerator()
        self.makeID = makeID ?? { ordered.next() }
        watchSharedChanges()
    }

    /// PocketBase's id: 15 characters of `a-z0-9`, uniformly drawn (sessions and votes; records get ordered
    /// ids of the same shape from `RecordIDGenerator`).
    package static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        return randomID(using: &generator)
    }

    /// The id from `generator`'s bytes: each byte below 252 (7 × 36) picks one character, so every character
    /// is equally likely, and one 64-bit draw gives about eight characters (not one draw, and one system
    /// call, per character: that was 3% of a create's time).
    static func randomID(using generator: inout some RandomNumberGenerator) -> String {
        let alphabet: StaticString = "abcdefghijklmnopqrstuvwxyz0123456789"
        return String(unsafeUninitializedCapacity: 15) { id in
            var written = 0
            while written < 15 {
                var bits = generator.next()
                for _ in 0..<8 where written < 15 {
                    let byte = UInt8(truncatingIfNeeded: bits)
                    bits >>= 8
                    guard byte < 252 else { continue }
                    id[written] = alphabet.utf8Start[Int(byte % 36)]
                    written += 1
                }
            }
            return 15
        }
    }

    /// The loop a collection's changes are applied and published on (one per collection, so its events
    /// keep commit order).
    func homeLoop(_ collection: String) -> any EventLoop { bus.homeLoop(for: collection) }

    // MARK: - Starting

    /// Restores what the store kept (before the server accepts requests); a stored definition or record
    /// that no longer parses is left out and counted.
    package func restore(collections: [StoredCollection], records: [StoredRecord]) -> (
        collections: Int, records: Int, skipped: Int
    ) {
        var restored: [String: Collection] = [:]
        var skipped = 0
        for stored in collections {
            guard let value = try? JSONValue.parse(stored.definition),
                let definition = try? RecordCollectionDefinition(json: value, name: stored.name),
                let collection = try? Self.compile(definition)
            else {
                skipped += 1
                continue
            }
            restored[stored.name] = collection
        }
        var count = 0
        for stored in records {
            guard restored[stored.collection] != nil, case .object(let fields)? = try? JSONValue.parse(stored.fields)
            else {
                skipped += 1
                continue
            }
            restored[stored.collection]!.records[stored.id] = Record(
                collection: stored.collection, id: stored.id, version: stored.version, created: stored.created,
                updated: stored.updated, fields: fields)
            count += 1
        }
        core.withLockedValue {
            $0.collections = restored
            $0.count = count
        }
        // A feed deleted through /api/streams, or lost with a store that kept no streams, comes back empty.
        for name in restored.keys { ensureFeed(name) {} }
        return (restored.count, count, skipped)
    }

    static func compile(_ definition: RecordCollectionDefinition) throws(RecordError) -> Collection {
        let rules = try RecordRuleSet(definition.rules)
        var schema: JSONSchema?
        if let json = definition.schema {
            do {
                schema = try JSONSchema(json: json)
            } catch {
                throw .invalidField("schema", "Invalid JSON Schema: \(error)")
            }
        }
        return Collection(definition: definition, rules: rules, schema: schema)
    }

    // MARK: - Reading

    /// Collection definitions, by name.
    package var definitions: [RecordCollectionDefinition] {
        core.withLockedValue { core in core.collections.values.map(\.definition) }.sorted { $0.name < $1.name }
    }

    package func definition(_ name: String) -> RecordCollectionDefinition? {
        core.withLockedValue { $0.collections[name]?.definition }
    }

    /// Committed record counts by collection (metrics, the collections list).
    package func recordCounts() -> [String: Int] {
        core.withLockedValue { core in core.collections.mapValues(\.records.count) }
    }

    func snapshot(_ name: String) throws(RecordError) -> Collection {
        guard let collection = core.withLockedValue({ $0.collections[name] }) else { throw .collectionNotFound }
        return collection
    }

    /// One page of the records `caller` may list that match `query`'s filter, in its sort order.
    package func list(_ name: String, query: RecordListQuery, caller: RecordCaller, now: UInt64) throws(RecordError)
        -> RecordPage
    {
        let collection = try snapshot(name)
        let access = try collection.rules.access(.list, caller)
        let filter = try query.filter.map { text throws(RecordError) in try RecordRuleSet.parseFilter(text, "filter") }
        let sort = try RecordRuleSet.parseSort(query.sort)
        try collection.checkFields(filter: filter, sort: sort)
        let context = RecordRuleSet.context(caller, body: nil, now: now)
        var matching = collection.records.values.filter { record in
            access.allows(record.document, context) && (filter?.matches(record.document, request: context) ?? true)
        }
        if sort.isRandom { matching.shuffle() } else { matching.sort { sort.ordered($0.document, $1.document) } }
        let perPage = max(1, min(query.perPage, RecordListQuery.maxPerPage))
        let page = max(1, query.page)
        let start = min(matching.count, (page - 1) * perPage)
        let items = Array(matching[start..<min(matching.count, start + perPage)])
        let total = query.skipTotal ? -1 : matching.count
        let pages = query.skipTotal ? -1 : (matching.count + perPage - 1) / perPage
        return RecordPage(page: page, perPage: perPage, totalItems: total, totalPages: pages, items: items)
    }

    /// The record, when `caller` may view it (404 when it may not, as PocketBase: nothing says it exists).
    package func view(_ name: String, id: String, caller: RecordCaller, now: UInt64) throws(RecordError) -> Record {
        let collection = try snapshot(name)
        let access = try collection.rules.access(.view, caller)
        guard let record = collection.records[id],
            access.allows(record.document, RecordRuleSet.context(caller, body: nil, now: now))
        else { throw .recordNotFound }
        return record
    }
}

extension RecordCollections.Collection {
    /// A filter or sort that names a field the collection's schema does not declare is refused (a
    /// collection without a schema, or whose schema declares no `properties`, takes any field).
    func checkFields(filter: RecordFilter?, sort: RecordRuleSet.Sort) throws(RecordError) {
        guard case .object(let members)? = definition.schema,
            case .object(let properties)? = members.first(where: { $0.key == "properties" })?.value
        else { return }
        let known = Set(properties.map(\.key)).union(Record.systemFields)
        for field in (filter?.referencedFields ?? []) + sort.referencedFields {
            let head = String(field.split(separator: ".", maxSplits: 1).first ?? "")
            guard known.contains(head) else {
                throw .badRequest("Invalid filter or sort field \"\(field)\": the collection has no such field.")
            }
        }
    }
}
