package import BusCore
package import NIOCore

/// Who may act on a client's session when several server instances share one database
/// (docs/storage.md, "Several instances on one PostgreSQL database"). Each store loads its state into
/// memory at start, so a session another instance owns is stale here: only the owner acts on a session,
/// and a new owner reads it fresh from the database. A store shared by one instance only has none
/// (`Store.sessionOwnership` is nil).
package protocol StoreSessionOwnership: AnyObject, Sendable {
    /// This instance's number among the live instances on the database (0...255, unique while it lives):
    /// the low byte of the session message sequence numbers it hands out, so two instances never write
    /// the same one.
    var instanceSlot: UInt8 { get }
    /// Claims `clientID`'s session. While another instance owns it, that instance is asked to let go and
    /// the claim waits for it up to `timeout`. `completion` runs on a thread of the store's with whether
    /// the claim holds. Claims count: the session stays owned until each successful claim is released.
    func claim(_ clientID: String, timeout: TimeAmount, completion: @escaping @Sendable (Bool) -> Void)
    /// Gives one claim back (call it once the session's writes are durable); the last one lets go.
    func release(_ clientID: String)
    /// The session as the database holds it now (nil: there is none) and the logged session messages
    /// newer than its oldest subscription. `completion` runs on a thread of the store's.
    func loadSession(
        _ clientID: String, completion: @escaping @Sendable (Result<StoredSessionSnapshot?, any Error>) -> Void)
    /// Deletes the session messages numbered at or below `ceiling` that no session in the database may still
    /// be owed, with their delivery records (`now`, ns: offline sessions past their expiry owe nothing).
    /// One instance trims at a time: `completion` (on a thread of the store's) gets how many messages went,
    /// or nil when another instance was trimming.
    func trimSessionLog(
        through ceiling: UInt64, now: UInt64, completion: @escaping @Sendable (Result<Int?, any Error>) -> Void)
    /// `handler` is called (on a thread of the store's) with the client identifier whenever another
    /// instance asks for a session this instance holds a claim on. Set once, before connections come.
    func onTakeoverRequested(_ handler: @escaping @Sendable (String) -> Void)

    // MARK: Other resources (AMQP durable queues)

    /// `handler` is called (on a thread of the store's) with a resource name (`StoreOwnedResource.name(kind:_:)`)
    /// claimed here when another instance asks for it (`lost` false: the holder may refuse by keeping
    /// it) or when the ownership connection was lost (`lost` true: it is not held any more). Claims and
    /// releases of resources are `claim` / `release` with that name. Each handler added is called for every
    /// resource (it ignores the kinds not its own); add them before connections come.
    func onResourceReleaseRequested(_ handler: @escaping @Sendable (_ resource: String, _ lost: Bool) -> Void)
    /// `handler` gets the payload of every notification on `channel` (`StoreWrite.notify` of any
    /// instance, this one included), on a thread of the store's. Set before connections come.
    func listen(_ channel: String, _ handler: @escaping @Sendable (String) -> Void)
    /// `handler` is called (on a thread of the store's) each time the connection that listens is back after
    /// it was lost: notifications sent meanwhile were missed, so whatever they announce may have changed
    /// (each listener reads its state again). Set before connections come.
    func onListenResumed(_ handler: @escaping @Sendable () -> Void)
    /// Stream `name` as the database holds it now (nil: there is none), with per partition the records
    /// above `after[partition]` when its epoch is still `epochs[partition]` (all records otherwise) and,
    /// when `kept`, the offsets at or below it still stored. `completion` runs on a thread of the store's.
    func loadStream(
        _ name: String, after: [UInt64], epochs: [String], kept: Bool,
        completion: @escaping @Sendable (Result<StoredStreamChange?, any Error>) -> Void)
    /// Topic `topic`'s durable log as the database holds it now (nil: there is none): its epoch, newest
    /// offset and the messages above `after` when its epoch is still `epoch` (every kept message
    /// otherwise). `completion` runs on a thread of the store's.
    func loadLog(
        _ topic: Topic, after: UInt64, epoch: String,
        completion: @escaping @Sendable (Result<StoredLog?, any Error>) -> Void)
    /// The names of `kind` the database holds now. `completion` runs on a thread of the store's.
    func loadNames(_ kind: StoredNameKind, completion: @escaping @Sendable (Result<[String], any Error>) -> Void)
    /// The stored messages of AMQP queue `queue` (its stored name) with ids from `firstID` on, in id order,
    /// as the database holds them now. `completion` runs on a thread of the store's.
    func loadQueueMessages(
        _ queue: String, from firstID: UInt64,
        completion: @escaping @Sendable (Result<[StoredQueueMessage], any Error>) -> Void)
    /// `group`'s committed stream offsets (`stream_consumer_offset`, every stream and partition) as the
    /// database holds them now: a consumer group or durable consumer claimed here reads where another
    /// instance left it. `completion` runs on a thread of the store's.
    func loadStreamConsumerOffsets(
        group: String, completion: @escaping @Sendable (Result<[StoredStreamConsumerOffset], any Error>) -> Void)
    /// The AMQP exchanges, queues and bindings as the database holds them now (`StoredState` with only
    /// those filled in). `completion` runs on a thread of the store's.
    func loadBrokerTopology(completion: @escaping @Sendable (Result<StoredState, any Error>) -> Void)
    /// The retained messages of `topics` as the database holds them now (a topic without one is absent
    /// from the answer). `completion` runs on a thread of the store's.
    func loadRetained(
        _ topics: [String], completion: @escaping @Sendable (Result<[String: BusMessage], any Error>) -> Void)
    /// The records `keys` (collection, id) name, as the database holds them now (one not there is absent
    /// from the answer). `completion` runs on a thread of the store's.
    func loadRecords(
        _ keys: [(collection: String, id: String)],
        completion: @escaping @Sendable (Result<[StoredRecord], any Error>) -> Void)
    /// Fences `resource`'s appends (a writer claim's, `StoreOwnedResource.writerResource(of:)`), called with
    /// its claim held, before the claim reads the resource fresh: a new token is written as the resource's
    /// fence, and from then on a commit of this instance appending to it goes through only while the
    /// database still holds that token. Another instance fencing it later (its claim, after this one's
    /// lock went with a lost connection) makes this instance's appends still queued fail
    /// (`StoreWriterFenced`) instead of committing behind the new writer's read. The fence write waits for
    /// any commit in flight that checked the old token, so the read after it sees that commit.
    /// `completion` runs on a thread of the store's with whether the fence was written.
    func fenceWriter(_ resource: String, completion: @escaping @Sendable (Bool) -> Void)
    /// Collection `name`'s definition (nil: there is none) and records, as the database holds them now.
    /// `completion` runs on a thread of the store's.
    func loadCollection(
        _ name: String,
        completion: @escaping @Sendable (Result<(StoredCollection?, [StoredRecord]), any Error>) -> Void)
}

/// Names of claimed resources other than MQTT sessions.
package enum StoreOwnedResource {
    /// The notification every change of a retained message sends when several instances share the
    /// database (in the transaction that writes it), with its topic: each instance reads the topic's row
    /// again (`StoreSessionOwnership.loadRetained`), so a new subscriber anywhere gets what the database
    /// holds.
    package static let retainedChannel = "switchboard_retained"
    /// The notification every stream write sends when several instances share the database (in the
    /// transaction that writes it), once per stream and commit: the writer's slot, a line feed, `a` (only
    /// records appended) or `c` (anything else: definition, partitions, trims, deletes), a line feed, the
    /// stream's name. The others read the stream again (`StoreSessionOwnership.loadStream`).
    package static let streamChannel = "switchboard_stream"
    /// The notification every change of a record or collection sends when several instances share the
    /// database (in the transaction that writes it): the collection, a line feed, the record's id
    /// (`StoreSessionOwnership.loadRecords`); a collection's alone (`loadCollection`). Collection names
    /// and ids hold no line feed.
    package static let recordChannel = "switchboard_record"
    /// The notification every durable topic log append or reset sends when several instances share the
    /// database (in the transaction that writes it), once per log and commit: the writer's slot, a line
    /// feed, the topic. The others read the log's tail again (`StoreSessionOwnership.loadLog`).
    package static let historyChannel = "switchboard_history"

    /// The claims' kind of a durable topic log's writer claim (`HistorySharing`).
    package static let historyWriterKind = "history-writer"
    /// The claims' kind of a stream partition's writer claim (`StreamRegistry+Sharing`); its name is the
    /// stream's, U+0000, the partition's index.
    package static let streamWriterKind = "stream-writer"

    /// The writer claim an append belongs to (`name(kind:_:)`), which fences it (`StoreSessionOwnership
    /// .fenceWriter`); nil for every other write. A log's reset is fenced too: a holder fenced out takes
    /// back its failed appends, and where it cannot it starts a new epoch, whose reset must not empty the
    /// log the new writer continues.
    package static func writerResource(of write: StoreWrite) -> String? {
        writer(of: write)?.resource
    }

    /// The writer claim an append belongs to, before its name is made: a commit's appends go to a few
    /// logs or partitions many times each, so they are told apart by this key and named once each.
    package enum Writer: Hashable {
        case log(topic: String)
        case partition(stream: String, index: Int)

        /// The claim's name (`name(kind:_:)`).
        package var resource: String {
            switch self {
            case .log(let topic): StoreOwnedResource.name(kind: historyWriterKind, topic)
            case .partition(let stream, let index):
                StoreOwnedResource.name(kind: streamWriterKind, stream + "\u{0}" + String(index))
            }
        }
    }

    /// `writerResource(of:)`'s key.
    package static func writer(of write: StoreWrite) -> Writer? {
        switch write {
        case .appendLog(let topic, _, _, _), .resetLog(let topic, _): .log(topic: topic.name)
        case .appendStream(let message): .partition(stream: message.stream, index: message.partition)
        default: nil
        }
    }

    /// The `recordChannel` payload of a record or collection write (nil: not one).
    package static func recordKey(of write: StoreWrite) -> String? {
        switch write {
        case .saveRecord(let record): record.collection + "\n" + record.id
        case .deleteRecord(let collection, let id): collection + "\n" + id
        case .saveCollection(let collection): collection.name
        case .deleteCollection(let name): name
        default: nil
        }
    }

    /// The name a claim on a resource other than an MQTT session goes by: `kind` and `name` after
    /// U+0000, which no MQTT client identifier holds ([MQTT-1.5.4-2]), so none is ever mistaken for the
    /// other.
    package static func name(kind: String, _ name: String) -> String {
        "\u{0}" + kind + "\u{0}" + name
    }

    /// Whether a claimed name is a resource's (`StoreOwnedResource.name(kind:_:)`), not a session's.
    package static func isResource(_ name: String) -> Bool { name.utf8.first == 0 }
}

/// One session read fresh from the database, with the messages it may still be owed.
package struct StoredSessionSnapshot: Sendable {
    package var session: StoredSession
    /// By sequence number, ascending.
    package var messages: [(seq: UInt64, message: BusMessage)]
    package init(session: StoredSession, messages: [(seq: UInt64, message: BusMessage)]) {
        self.session = session
        self.messages = messages
    }
}
