import Atomics
package import BusCore
package import NIOCore

/// What joins this bus to the buses of other instances (issue 23, docs/redis.md): every publication made
/// here is offered to it, and it hears which filters local subscribers want, so it can fetch only what
/// they want from the other instances. What it brings back it publishes with `Bus.publishRemote`.
package protocol BusEngine: AnyObject, Sendable {
    /// A publication made on this instance, or a presence join or leave announced here, from the
    /// publishing loop, in publish order per loop.
    func forward(_ message: BusMessage)
    /// A local subscription to `filter` was added (`delta` 1) or removed (-1).
    func interestChanged(_ filter: TopicFilter, delta: Int)
    /// Whether this instance's members of the shared group `key` (its name, U+001F, its pattern) take
    /// `message`: with members on several instances, exactly one of them does.
    func deliversToGroup(_ key: String, _ message: BusMessage) -> Bool
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
}
