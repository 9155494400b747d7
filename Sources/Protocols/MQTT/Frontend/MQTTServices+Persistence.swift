import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
package import NIOCore
package import Storage

extension MQTTServices {
    /// What `restore` brought back.
    package struct Restored: Sendable {
        package var sessions = 0
        package var expired = 0
        package var inflight = 0
        package var queued = 0
        package var messagesKept = 0
    }

    /// Takes back the persistent sessions the store kept (at startup, before clients connect; not on an
    /// event loop). Each session resumes offline on a loop of its own, subscribed again, owed every logged
    /// message matching its subscriptions that it had not completed; its expiry counts on from its
    /// disconnection (from now, when it was connected when the server stopped).
    package func restore(_ state: StoredState) throws -> Restored {
        guard let persistence else { return Restored() }
        var restored = Restored()
        restored.messagesKept = state.sessionMessages.count
        let lastSequence = max(
            state.sessionMessages.last?.seq ?? 0,
            state.sessions.flatMap(\.deliveries).map(\.seq).max() ?? 0)
        persistence.resume(after: lastSequence)
        // Shared with other instances, a session is taken up when its client connects, claimed and read
        // fresh then (`adopt`): what the database held at start may be another instance's, and stale.
        guard persistence.ownership == nil else { return restored }
        let now = bus.clock()
        for stored in state.sessions {
            let header = stored.header
            let disconnectedAt = header.disconnectedAt == 0 ? now : header.disconnectedAt
            var remaining = header.expirySeconds
            if header.expirySeconds != .max {
                let elapsed = now > disconnectedAt ? (now - disconnectedAt) / 1_000_000_000 : 0
                guard elapsed < UInt64(header.expirySeconds) else {
                    persistence.store.submit([.deleteSession(clientID: header.clientID)])
                    restored.expired += 1
                    continue
                }
                remaining = header.expirySeconds - UInt32(elapsed)
            }
            let shard = bus.shards[Int(UInt(bitPattern: header.clientID.hashValue) % UInt(bus.shards.count))]
            let counts = try shard.eventLoop.submit { [self] in
                resumeSession(stored, messages: state.sessionMessages, on: shard.eventLoop, now: now, expiry: remaining)
                    .counts
            }.wait()
            restored.sessions += 1
            restored.inflight += counts.inflight
            restored.queued += counts.queued
        }
        return restored
    }

    /// Takes up a session read fresh from the database after claiming it (several instances on one
    /// database; runs on `loop`): as `restore` does at startup, or, when it expired while no instance held
    /// it, deletes it and answers nil.
    func adopt(_ snapshot: StoredSessionSnapshot, on loop: any EventLoop) -> MQTTSession? {
        let header = snapshot.session.header
        let now = bus.clock()
        let disconnectedAt = header.disconnectedAt == 0 ? now : header.disconnectedAt
        var remaining = header.expirySeconds
        if header.expirySeconds != .max {
            let elapsed = now > disconnectedAt ? (now - disconnectedAt) / 1_000_000_000 : 0
            guard elapsed < UInt64(header.expirySeconds) else {
                persistence?.persist([.deleteSession(clientID: header.clientID)], on: loop)
                return nil
            }
            remaining = header.expirySeconds - UInt32(elapsed)
        }
        return resumeSession(snapshot.session, messages: snapshot.messages, on: loop, now: now, expiry: remaining)
            .session
    }

    private func resumeSession(
        _ stored: StoredSession, messages: [(seq: UInt64, message: BusMessage)], on loop: any EventLoop, now: UInt64,
        expiry: UInt32
    ) -> (session: MQTTSession, counts: (inflight: Int, queued: Int)) {
        let clientID = stored.header.clientID
        let session = MQTTSession(clientID: clientID, eventLoop: loop, services: self)
        var subscriptions: [(filter: TopicFilter, record: MQTTSessionState.Subscription, since: UInt64)] = []
        for subscription in stored.subscriptions {
            guard let filter = try? TopicFilter(subscription.filter),
                let qos = MQTTQoS(rawValue: subscription.options & 3)
            else { continue }
            let options = MQTTSubscription(
                filter: subscription.filter, maxQoS: qos, noLocal: subscription.options & 0x04 != 0,
                retainAsPublished: subscription.options & 0x08 != 0, retainHandling: (subscription.options >> 4) & 3)
            let record = MQTTSessionState.Subscription(options: options, identifier: subscription.identifier)
            _ = session.subscribe(filter, record)  // not persistent yet: nothing is rewritten
            subscriptions.append((filter, record, subscription.sinceSeq))
        }
        session.restored(expirySeconds: stored.header.expirySeconds)
        persistence?.subscriptionsChanged(by: subscriptions.count)
        session.state.inboundQoS2 = Set(stored.inboundQoS2)

        let deliveries = Dictionary(stored.deliveries.map { ($0.seq, $0) }, uniquingKeysWith: { $1 })
        let oldest = subscriptions.map(\.since).min() ?? .max
        var counts = (inflight: 0, queued: 0)
        for (sequence, message) in messages where sequence > oldest {
            let delivery = deliveries[sequence]
            if delivery?.state == .done { continue }
            if let expiry = message.headers.expiresAt, expiry <= now { continue }
            // The strongest matching subscription decides QoS, identifier and retain-as-published. Shared
            // subscriptions got only some messages: those are the ones with a delivery record.
            var best: (qos: UInt8, record: MQTTSessionState.Subscription)?
            for subscription in subscriptions where sequence > subscription.since {
                guard subscription.filter.matches(message.topic) else { continue }
                if subscription.filter.shareGroup != nil && delivery == nil { continue }
                if subscription.record.options.noLocal && message.publisherID == clientID { continue }
                let qos = min(message.headers.qos ?? 0, subscription.record.options.maxQoS.rawValue)
                if qos > (best?.qos ?? 0) { best = (qos, subscription.record) }
            }
            guard let best, let qos = MQTTQoS(rawValue: best.qos) else { continue }
            var packet = MQTTMessageMapping.publishPacket(
                message, qos: qos, retain: message.headers.retain && best.record.options.retainAsPublished,
                subscriptionIdentifiers: best.record.identifier.map { [$0] } ?? [])
            if let delivery, delivery.state == .sent || delivery.state == .released {
                packet.packetID = delivery.packetID
                packet.duplicate = true
                session.state.restoreInflight(
                    packet, expiresAt: message.headers.expiresAt, released: delivery.state == .released,
                    sequence: sequence)
                counts.inflight += 1
            } else {
                session.state.restoreQueued(packet, expiresAt: message.headers.expiresAt, sequence: sequence)
                counts.queued += 1
            }
        }
        sessions.store(session)
        session.scheduleExpiry(seconds: expiry)
        return (session, counts)
    }

    /// Keeps the session message log short: every `interval`, each loop reports the lowest sequence its
    /// persistent sessions still owe, and messages below all of them (and old enough to have been routed
    /// everywhere) are deleted with their delivery records.
    /// Shared with other instances, what their sessions still owe is not known here: the store works the
    /// bound out from the shared tables, one instance at a time (docs/storage.md, "Several instances on
    /// one PostgreSQL database").
    package func startMessageLogTrimming(every interval: TimeAmount = .seconds(10)) -> [RepeatedTask] {
        guard let persistence else { return [] }
        let age = UInt64(interval.nanoseconds) * 3
        if let ownership = persistence.ownership {
            return [startSharedMessageLogTrimming(ownership, every: interval, age: age)]
        }
        var tasks: [RepeatedTask] = []
        for shard in bus.shards {
            let loop = shard.eventLoop
            let index = shard.index
            tasks.append(
                loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
                    let lowest = sessions.all().filter { $0.eventLoop === loop && $0.persistent }
                        .compactMap { $0.state.lowestSequence }.min()
                    persistence.report(loop: index, lowest: lowest ?? .max)
                    guard index == 0 else { return }
                    let now = bus.clock()
                    persistence.checkpoint(now: now)
                    if let bound = persistence.trimBound(now: now, age: age) {
                        persistence.store.submit([.trimSessionMessages(through: bound)])
                    }
                })
        }
        return tasks
    }

    /// Shared: every `interval`, the messages older than `age` that no session in the database may still
    /// be owed go (sequence numbers are the time in µs above the slot byte, so `age` ago is a sequence).
    private func startSharedMessageLogTrimming(
        _ ownership: any StoreSessionOwnership, every interval: TimeAmount, age: UInt64
    ) -> RepeatedTask {
        let loop = bus.shards[0].eventLoop
        return loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            let now = bus.clock()
            guard now > age else { return }
            let ceiling = ((now - age) / 1_000) << 8 | 0xFF
            ownership.trimSessionLog(through: ceiling, now: now) { _ in }
        }
    }
}
