import Atomics
package import BusCore
package import NIOCore

/// What joins this bus to the buses of other instances (issue 23, docs/redis.md): every publication made
/// here is offered to it, and it hears which filters local subscribers want, so it can fetch only what
/// they want from the other instances. What it brings back it publishes with `Bus.publishRemote`.
package protocol BusEngine: AnyObject, Sendable {
    /// This instance's id among the instances (in what it sends, and in the session ids it gives).
    var instanceID: String { get }
    /// A publication made on this instance, or a presence join or leave announced here, from the
    /// publishing loop, in publish order per loop.
    func forward(_ message: BusMessage)
    /// A publication of a durable log the instances share through the store (`HistorySharing`), once this
    /// instance, its writer, stored it: sent to the others with its position, for their subscribers only
    /// (their copies of the log follow the store).
    func forwardStored(_ message: BusMessage)
    /// A local subscription to `filter` was added (`delta` 1) or removed (-1).
    func interestChanged(_ filter: TopicFilter, delta: Int)
    /// Whether this instance's members of the shared group `key` (its name, U+001F, its pattern) take
    /// `message`: with members on several instances, exactly one of them does.
    func deliversToGroup(_ key: String, _ message: BusMessage) -> Bool
    /// A publication made here to a topic that keeps (non-durable) history, instead of `forward`: the
    /// engine appends it to the topic's shared log when the instances keep one (docs/redis.md, "History
    /// across instances") and sends it to the others with its position. `routed`, when given (this
    /// instance keeps a shared log of the topic), is called on `loop` once the message was published here
    /// with its position (`Bus.publishSequenced`, from the engine's loop, in the shared log's order), or
    /// without one when it could not be sequenced (Redis unreachable, no shared log). `answered`, when
    /// given (the message was routed here already), gets the shared position (nil: none) on `loop`.
    func sequence(
        _ message: BusMessage, limits: HistoryLimits, from loop: any EventLoop,
        routed: (@Sendable (PublishResult) -> Void)?, answered: (@Sendable (LogPosition?) -> Void)?)
    /// Makes sure the instances share a log of `topic` and reads its newest messages (the shared epoch,
    /// newest offset and up to `limits.count` messages, oldest first, positioned and remote), nil when
    /// Redis cannot be asked. The topic's messages are heard from before the read until
    /// `releaseHistoryHold` (so nothing published after the read is missed here).
    func refreshHistory(_ topic: Topic, limits: HistoryLimits) -> EventLoopFuture<SharedLogWindow?>
    /// Ends the hold `refreshHistory` took.
    func releaseHistoryHold(_ topic: Topic)
    /// Keeps `value` under `key` for every instance until `ttl` passes (replacing what was there): a small
    /// record one instance leaves for whichever instance a client comes back to, as Socket.IO's recovery
    /// records (docs/redis.md, "Records across instances"). Fire and forget: a record lost with Redis
    /// only means the client is not recovered.
    /// With `onlyIfKept`, only replaces a record still there (`SET … XX`): a writer that may be late —
    /// the instance a client left, noticing the drop after another instance took its record — never
    /// brings back a record that was used.
    func keepRecord(_ key: String, value: ByteBuffer, ttl: TimeAmount, onlyIfKept: Bool)
    /// Takes the record under `key`: its value once, to one instance, and it is gone (atomically, so two
    /// instances never both get it); nil when there is none, it expired, or Redis cannot be asked.
    func takeRecord(_ key: String) -> EventLoopFuture<ByteBuffer?>
    /// Reads the record under `key` and leaves it (nil: none, expired, or Redis cannot be asked).
    func readRecord(_ key: String) -> EventLoopFuture<ByteBuffer?>
}

extension BusEngine {
    /// Keeps `value` under `key`, replacing or creating it.
    package func keepRecord(_ key: String, value: ByteBuffer, ttl: TimeAmount) {
        keepRecord(key, value: value, ttl: ttl, onlyIfKept: false)
    }
}

/// The newest part of a log the instances share, as read from the engine.
package struct SharedLogWindow: Sendable {
    package var epoch: String
    package var lastOffset: UInt64
    /// Oldest first, each positioned in `epoch`.
    package var messages: [BusMessage]
    package init(epoch: String, lastOffset: UInt64, messages: [BusMessage]) {
        self.epoch = epoch
        self.lastOffset = lastOffset
        self.messages = messages
    }
}

/// The engine a bus was given (`Bus.attach`), held so the publish path reads it with one atomic load.
package final class BusEngineReference: Sendable {
    let engine: any BusEngine
    init(_ engine: any BusEngine) { self.engine = engine }
}

extension Bus {
    /// Joins this bus to other instances through `engine`; once, before the bus serves clients (the
    /// subscriptions made so far are told to it).
    package func attach(_ engine: any BusEngine) {
        let reference = BusEngineReference(engine)
        let stored = engineReference.storeIfNilThenLoad(reference)
        precondition(stored === reference, "the bus has an engine already")
        for (filter, count) in registry.filterCounts() {
            engine.interestChanged(filter, delta: count)
        }
        let registry = self.registry
        for shard in shards {
            shard.eventLoop.execute {
                shard.engine = engine
                // Cached plans said "not routed" for topics nobody here wants: with an engine, all are.
                registry.invalidate()
            }
        }
    }

    /// The engine, when the bus has one.
    @inline(__always)
    package var engine: (any BusEngine)? { engineReference.load()?.engine }

    /// Publishes a message another instance published (from one of this bus's loops): routed to local
    /// subscribers and kept in local logs as any publication, never forwarded again.
    package func publishRemote(_ message: BusMessage, on loop: any EventLoop) {
        precondition(message.isRemote)
        shard(for: loop).publish(message)
    }

    /// Publishes a message of this instance the engine sequenced (`BusEngine.sequence`), from the engine's
    /// loop: appended to the topic's shared log window and routed to local subscribers, as a remote message
    /// is (streams and acceptors had it when it was published).
    package func publishSequenced(
        _ message: BusMessage, on loop: any EventLoop, whenDeferred: ((PublishResult) -> Void)? = nil
    ) -> PublishResult? {
        precondition(message.isRemote)
        return shard(for: loop).publishSequenced(message, whenDeferred: whenDeferred)
    }
}
