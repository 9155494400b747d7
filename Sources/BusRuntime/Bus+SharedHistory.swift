package import BusCore
package import NIOCore

extension Bus {
    /// With an engine, brings each topic's log in step with the log the instances share (Redis streams,
    /// docs/redis.md "History across instances") and then runs `body` on `loop`, so that a client that
    /// resumes or reads history here sees what every instance published, at the positions every instance
    /// agrees on. Returns false and runs nothing when there is nothing to do — no engine (one instance), or
    /// no topic keeping shared history (none, or durable ones, which stay per instance): the caller goes on
    /// at once, as it always did.
    package func refreshingHistory(of topics: [Topic], on loop: any EventLoop, then body: @escaping () -> Void)
        -> Bool
    {
        guard let engine else { return false }
        let shared = topics.compactMap { topic -> (Topic, HistoryLimits)? in
            guard let limits = history.policy.limits(for: topic), !limits.durable else { return nil }
            return (topic, limits)
        }
        guard !shared.isEmpty else { return false }
        let bound = NIOLoopBound(body, eventLoop: loop)
        let refreshes = shared.map { topic, limits in
            let reading = engine.refreshHistory(topic, limits: limits)
            return reading.flatMap { window -> EventLoopFuture<Void> in
                // Redis unreachable: the local log serves as it is (recovery reports what it cannot fill).
                guard let window else { return reading.eventLoop.makeSucceededVoidFuture() }
                return self.adoptSharedWindow(window, of: topic, on: reading.eventLoop)
            }
        }
        EventLoopFuture.whenAllComplete(refreshes, on: loop).whenComplete { _ in
            bound.value()
            // After the body subscribed (its own interest now holds the topic's messages).
            for (topic, _) in shared { engine.releaseHistoryHold(topic) }
        }
        return true
    }

    /// Makes `window` the topic's log here, on the log's owner loop, after what the engine's loop heard
    /// before the read reached it (called on the engine's loop, a bus loop).
    private func adoptSharedWindow(_ window: SharedLogWindow, of topic: Topic, on engineLoop: any EventLoop)
        -> EventLoopFuture<Void>
    {
        let (made, isNew) = history.demandLog(for: topic, now: clock())
        guard let box = made else { return engineLoop.makeSucceededVoidFuture() }
        // A log made here is new to the publishers' cached plans.
        if isNew { registry.invalidate() }
        let engineShard = shard(for: engineLoop)
        let owner = shards[box.owner(claimingFor: engineShard.index)]
        let clock = self.clock
        if owner === engineShard {
            box.adopt(epoch: window.epoch, lastOffset: window.lastOffset, messages: window.messages, now: clock())
            return engineLoop.makeSucceededVoidFuture()
        }
        // Messages heard before the read, forwarded to the owner, go first: tasks from one loop to another
        // run in order.
        engineShard.flushWritten()
        return owner.eventLoop.submit {
            box.adopt(epoch: window.epoch, lastOffset: window.lastOffset, messages: window.messages, now: clock())
        }
    }
}
