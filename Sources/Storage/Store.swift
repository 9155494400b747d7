package import BusCore

/// Where durable state lives (DESIGN.md §4.7): topic logs, retained messages, MQTT sessions and their
/// messages, consumer offsets, AMQP queues and bindings. One interface, two implementations today —
/// `MemoryStore` (tests, `--storage memory`), `SQLiteStore` (the default) and `PostgresStore`.
///
/// Writes are submitted in batches and applied in submission order, off the caller's thread; a batch's
/// completion runs once it is durable (for SQLite: committed, and fsynced unless the durability mode says
/// otherwise). Callers on an event loop hop back to it in the completion. Many batches submitted while a
/// commit is running are committed together (group commit: one transaction, one fsync).
///
/// Reads happen at startup, before the server accepts connections (`load()`), and are synchronous; the
/// one read while serving, `readStream`, completes off the caller's thread.
package protocol Store: Sendable {
    /// Applies `writes`, in order, after every batch submitted earlier; then calls `completion` from the
    /// store's own thread with nil, or with the error that made the batch fail (nothing of it is durable).
    func submit(_ writes: [StoreWrite], completion: (@Sendable ((any Error)?) -> Void)?)
    /// Everything kept, as it stood after the last durable batch. `streamBodies` false: each stream
    /// partition comes back as its records' index entries (`StoredStreamPartition.index`), their bodies
    /// left in the store (a restart reads back only what a partition keeps in memory).
    func load(streamBodies: Bool) throws -> StoredState
    /// The stored records of one stream partition at `offsets` (ascending), those the store has, in offset
    /// order: how a `file` stream reads the records whose bodies it no longer keeps in memory (docs/
    /// storage.md, "Streams"). Read off the caller's thread, on a connection of its own (never behind the
    /// writer's commits): `completion` runs on the store's reader thread (`MemoryStore`: at once). Sees
    /// every batch whose completion has run.
    func readStream(
        _ stream: String, partition: Int, offsets: [UInt64],
        completion: @escaping @Sendable (Result<[StoredStreamMessage], any Error>) -> Void)
    /// Waits for every submitted batch, then releases the store. Later submits fail.
    func close()
    /// What the store measured: commit latency and size (for /metrics).
    var statistics: StoreStatistics { get }
    /// Per-session ownership when several instances share the store (PostgreSQL with
    /// `shared_instances=true`); nil when this instance is the store's only user.
    var sessionOwnership: (any StoreSessionOwnership)? { get }
}

extension Store {
    package func submit(_ writes: [StoreWrite]) { submit(writes, completion: nil) }
    /// Everything kept, stream bodies included.
    package func load() throws -> StoredState { try load(streamBodies: true) }
    package var sessionOwnership: (any StoreSessionOwnership)? { nil }
}

/// One change to durable state.
package enum StoreWrite: Sendable {
    /// A message appended to a topic log at `offset` in `epoch`. `keep` is the log's count bound: rows
    /// more than `keep` behind the newest offset may be deleted with this batch.
    case appendLog(topic: Topic, epoch: String, message: BusMessage, keep: Int)
    /// The topic's log starts again in a new epoch (its old messages are gone).
    case resetLog(topic: Topic, epoch: String)
    /// Drops log rows older than `before` (ns since the epoch) from the topic's log (age retention).
    case trimLogByAge(topic: Topic, before: UInt64)
    /// The topic's retained message, or none (`nil` clears it).
    case retain(topic: Topic, message: BusMessage?)
    /// A session is created or updated (expiry interval, protocol level).
    case saveSession(StoredSession.Header)
    /// A session ended: it and everything it owns (subscriptions, deliveries, inbound QoS 2 ids) go.
    case deleteSession(clientID: String)
    case saveSubscription(clientID: String, StoredSubscription)
    case deleteSubscription(clientID: String, filter: String)
    /// A message kept for persistent sessions, by its sequence number (the durable session message log).
    case saveSessionMessage(seq: UInt64, message: BusMessage)
    /// Drops session messages up to and including `seq`, and every delivery record of them (no session
    /// needs them any more).
    case trimSessionMessages(through: UInt64)
    /// A session's progress on one message: sent with a packet id, released (QoS 2 PUBREL sent), or done.
    case saveDelivery(clientID: String, StoredDelivery)
    case deleteDelivery(clientID: String, seq: UInt64)
    /// An inbound QoS 2 packet identifier received (PUBREC sent) or released (PUBREL received).
    case inboundQoS2(clientID: String, packetID: UInt16, received: Bool)
    /// A consumer group's committed position in a topic log (Kafka REST, durable consumers).
    case saveConsumerOffset(StoredConsumerOffset)
    /// An AMQP-style queue declared (or redeclared with new arguments), or deleted.
    case saveQueue(StoredQueue)
    case deleteQueue(name: String)
    case saveBinding(StoredBinding)
    case deleteBinding(StoredBinding)
    /// A binding between two durable exchanges (`exchange.bind`), or its removal.
    case saveExchangeBinding(StoredExchangeBinding)
    case deleteExchangeBinding(StoredExchangeBinding)
    /// A durable exchange declared, or deleted.
    case saveExchange(StoredExchange)
    case deleteExchange(name: String)
    /// A persistent message taken by a durable queue (under the queue's own id), and messages that left it
    /// (acked, purged, expired, dead-lettered).
    case saveQueueMessage(StoredQueueMessage)
    case deleteQueueMessages(queue: String, ids: [UInt64])
    /// Stored queue messages were handed to a consumer (their `redelivered` becomes true): the next
    /// instance to serve the queue, when several share the store, delivers them as "may have been delivered
    /// before" (AMQP 0-9-1 `basic.deliver` redelivered).
    case markQueueMessagesDelivered(queue: String, ids: [UInt64])
    /// A stream's definition created or changed (partitions are never removed; see `saveStreamPartition`).
    case saveStream(StreamConfiguration)
    /// A stream and everything it owns (partitions, messages, consumer group offsets) go.
    case deleteStream(name: String)
    /// A stream partition starts, or starts again, in `epoch` after `lastOffset` (its stored messages go).
    case saveStreamPartition(stream: String, partition: Int, epoch: String, lastOffset: UInt64)
    /// A message appended to a stream partition (its newest offset moves up to it).
    case appendStream(StoredStreamMessage)
    /// Drops a partition's messages below offset `before` (limits, age, purge).
    case trimStream(stream: String, partition: Int, before: UInt64)
    /// Drops single messages of a partition (a purge by subject, a per-subject limit).
    case deleteStreamMessages(stream: String, partition: Int, offsets: [UInt64])
    /// A consumer group's committed offset in a stream partition.
    case saveStreamConsumerOffset(StoredStreamConsumerOffset)
    /// A record collection created or its definition changed.
    case saveCollection(StoredCollection)
    /// A collection and all its records go.
    case deleteCollection(name: String)
    /// A record created or replaced by a newer version.
    case saveRecord(StoredRecord)
    case deleteRecord(collection: String, id: String)
    /// Tells the other instances sharing the store that something changed, once this batch commits
    /// (PostgreSQL: `pg_notify` inside the transaction, delivered only if it commits). A store no other
    /// instance shares (memory, SQLite, PostgreSQL without `shared_instances`) has nobody to tell.
    case notify(channel: String, payload: String)
}

/// What `Store.load()` returns.
package struct StoredState: Sendable {
    package var logs: [StoredLog] = []
    package var retained: [BusMessage] = []
    package var sessions: [StoredSession] = []
    /// Session messages still kept, by sequence number (ascending).
    package var sessionMessages: [(seq: UInt64, message: BusMessage)] = []
    package var consumerOffsets: [StoredConsumerOffset] = []
    package var queues: [StoredQueue] = []
    package var bindings: [StoredBinding] = []
    /// Exchange-to-exchange bindings, restored after the exchanges.
    package var exchangeBindings: [StoredExchangeBinding] = []
    package var exchanges: [StoredExchange] = []
    /// Per queue, in id order.
    package var queueMessages: [StoredQueueMessage] = []
    /// By name, each with its partitions and their messages.
    package var streams: [StoredStream] = []
    /// By group, stream and partition.
    package var streamConsumerOffsets: [StoredStreamConsumerOffset] = []
    /// Record collections by name, and their records by collection and id.
    package var collections: [StoredCollection] = []
    package var records: [StoredRecord] = []
    package init() {}
}

/// A topic log as stored: its epoch, the newest offset ever written in it, and the messages still kept
/// (oldest first, each positioned). `intact` is false when rows are missing or unreadable: the caller
/// starts a new epoch instead of resuming into a log that is not what clients saw.
package struct StoredLog: Sendable {
    package var topic: Topic
    package var epoch: String
    package var lastOffset: UInt64
    package var messages: [BusMessage]
    package var intact: Bool
    package init(topic: Topic, epoch: String, lastOffset: UInt64, messages: [BusMessage], intact: Bool) {
        self.topic = topic
        self.epoch = epoch
        self.lastOffset = lastOffset
        self.messages = messages
        self.intact = intact
    }
}

/// A persistent session (MQTT clean start = 0 with a session expiry) and what it owns.
package struct StoredSession: Sendable, Hashable {
    package struct Header: Sendable, Hashable {
        package var clientID: String
        /// Session Expiry Interval in seconds (UInt32.max: never).
        package var expirySeconds: UInt32
        /// When the client disconnected (ns since the epoch), 0 while connected: expiry counts from it.
        package var disconnectedAt: UInt64
        package init(clientID: String, expirySeconds: UInt32, disconnectedAt: UInt64) {
            self.clientID = clientID
            self.expirySeconds = expirySeconds
            self.disconnectedAt = disconnectedAt
        }
    }

    package var header: Header
    package var subscriptions: [StoredSubscription] = []
    package var deliveries: [StoredDelivery] = []
    package var inboundQoS2: [UInt16] = []
    package init(header: Header) { self.header = header }
}

/// A session's subscription. `options` is the protocol's own options byte (MQTT: SUBSCRIBE options);
/// `sinceSeq` is the newest session message when it was made — only later messages are owed to it.
package struct StoredSubscription: Sendable, Hashable {
    package var filter: String
    package var options: UInt8
    package var identifier: Int?
    package var sinceSeq: UInt64
    package init(filter: String, options: UInt8, identifier: Int?, sinceSeq: UInt64) {
        self.filter = filter
        self.options = options
        self.identifier = identifier
        self.sinceSeq = sinceSeq
    }
}

/// A session's state for one session message it was sent.
package struct StoredDelivery: Sendable, Hashable {
    package enum State: UInt8, Sendable {
        /// Sent with `packetID`, not yet acknowledged.
        case sent = 1
        /// QoS 2: PUBREC received, PUBREL sent; only PUBCOMP is awaited.
        case released = 2
        /// Acknowledged (PUBACK / PUBCOMP): never sent again.
        case done = 3
    }

    package var seq: UInt64
    package var packetID: UInt16
    package var state: State
    package init(seq: UInt64, packetID: UInt16, state: State) {
        self.seq = seq
        self.packetID = packetID
        self.state = state
    }
}

package struct StoredConsumerOffset: Sendable, Hashable {
    package var group: String
    package var topic: String
    package var epoch: String
    package var offset: UInt64
    package init(group: String, topic: String, epoch: String, offset: UInt64) {
        self.group = group
        self.topic = topic
        self.epoch = epoch
        self.offset = offset
    }
}

package struct StoredQueue: Sendable, Hashable {
    package var name: String
    package var durable: Bool
    package var exclusive: Bool
    package var autoDelete: Bool
    /// The declare arguments, encoded by the protocol that owns them.
    package var arguments: [UInt8]
    package init(name: String, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: [UInt8]) {
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
    }
}

package struct StoredBinding: Sendable, Hashable {
    package var exchange: String
    package var queue: String
    package var routingKey: String
    /// The binding's arguments (headers exchanges), `StoredQueueCodec.encode(arguments:)`.
    package var arguments: [UInt8]
    package init(exchange: String, queue: String, routingKey: String, arguments: [UInt8] = []) {
        self.exchange = exchange
        self.queue = queue
        self.routingKey = routingKey
        self.arguments = arguments
    }
}

/// A binding from one durable exchange to another (RabbitMQ keeps one when both ends are durable).
/// Bindings that differ only in their arguments are distinct, so the arguments are part of its identity.
package struct StoredExchangeBinding: Sendable, Hashable {
    package var source: String
    package var destination: String
    package var routingKey: String
    /// `StoredQueueCodec.encode(arguments:)`.
    package var arguments: [UInt8]
    package init(source: String, destination: String, routingKey: String, arguments: [UInt8] = []) {
        self.source = source
        self.destination = destination
        self.routingKey = routingKey
        self.arguments = arguments
    }
}

/// A durable exchange.
package struct StoredExchange: Sendable, Hashable {
    package var name: String
    package var type: String
    package var autoDelete: Bool
    package var `internal`: Bool
    package var alternateExchange: String?
    package init(name: String, type: String, autoDelete: Bool, internal: Bool, alternateExchange: String?) {
        self.name = name
        self.type = type
        self.autoDelete = autoDelete
        self.internal = `internal`
        self.alternateExchange = alternateExchange
    }
}

/// A persistent message in a durable queue, with what the queue needs to take it back after a restart.
package struct StoredQueueMessage: Sendable {
    package var queue: String
    package var id: UInt64
    package var priority: UInt8
    /// Absolute expiry (ns since the epoch); `UInt64.max` for none.
    package var deadline: UInt64
    package var exchange: String
    package var routingKeys: [String]
    /// `StoredQueueCodec.encode(deaths:)`.
    package var deaths: [UInt8]
    package var redelivered: Bool
    package var message: BusMessage
    package init(
        queue: String, id: UInt64, priority: UInt8, deadline: UInt64, exchange: String, routingKeys: [String],
        deaths: [UInt8], redelivered: Bool, message: BusMessage
    ) {
        self.queue = queue
        self.id = id
        self.priority = priority
        self.deadline = deadline
        self.exchange = exchange
        self.routingKeys = routingKeys
        self.deaths = deaths
        self.redelivered = redelivered
        self.message = message
    }
}

/// How hard a commit tries to survive power loss.
package enum StoreDurability: String, Sendable {
    /// Each group commit is fsynced before its batches complete (the default).
    case fsync
    /// Commits reach the OS but are not fsynced: survives a process crash (kill -9), not power loss.
    case noFsync = "no-fsync"
}

/// Counters a store keeps for /metrics.
package struct StoreStatistics: Sendable {
    package var commits: UInt64 = 0
    package var committedWrites: UInt64 = 0
    /// The latest commit durations (ns, bounded), for the commit latency histogram.
    package var recentCommitNanos: [UInt64] = []
    package var failedCommits: UInt64 = 0
    /// WAL checkpoints the SQLite store ran after its commits (`SQLiteCheckpointSchedule`); 0 elsewhere.
    package var checkpoints: UInt64 = 0
    /// Bytes on disk (database + write-ahead log); 0 in memory.
    package var diskBytes: UInt64 = 0
    /// Writes submitted and not yet committed: how far the store is behind (flow control uses it).
    package var pendingWrites: Int = 0
    /// Why the last commit failed, while no commit has succeeded since (the database is down, the disk
    /// full): the server reports itself `degraded`. nil when the store is healthy.
    package var degraded: String?
    package init() {}
}

/// A store failure: the batch is not durable.
package struct StoreError: Error, Sendable, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}
