package import BusCore
package import BusRuntime
import FrontendKit
import MQTTWire
package import NIOCore
import Storage

/// One client's session (§4.1): its subscriptions on the bus and its outbound queue. It is the bus
/// subscriber, so deliveries keep arriving while the client is offline (QoS 1/2 are queued, bounded;
/// QoS 0 is dropped) and pass straight to the connection while one is attached. Confined to
/// `eventLoop`; other loops reach it with `eventLoop.execute` (hence `@unchecked Sendable`).
package final class MQTTSession: BusSubscriber, @unchecked Sendable {
    package let clientID: String
    package let eventLoop: any EventLoop
    let services: MQTTServices
    package let metricsSlot: ProtocolMetricsSlot
    package var deliveryMark: UInt64 = 0
    var state: MQTTSessionState
    var busSubscriptions: [String: BusSubscription] = [:]
    /// The message last folded into one copy for overlapping subscriptions (its other calls skip).
    private var lastFoldedMessage: BusMessage?
    /// The live connection, if any. Presence follows it: the session's subscribers are listed (as the
    /// connection, with the MQTT client id as name) while a client is connected, not while it is away.
    var connection: MQTTConnectionHandler? {
        didSet {
            guard connection !== oldValue else { return }
            if let oldValue { leavePresence(oldValue.info.id) }
            if let connection {
                let info = connection.info.presence
                for subscription in busSubscriptions.values {
                    services.bus.joinPresence(subscription.filter, info, on: eventLoop)
                }
            }
        }
    }
    /// Ends the session when it expires while offline.
    var expiryTask: Scheduled<Void>?
    /// A delayed Will Message waiting to be published ([MQTT-3.1.3-9]).
    var pendingWill: BusMessage?
    var willTask: Scheduled<Void>?
    private(set) var ended = false
    /// Set once the session moved to another loop: late deliveries go there.
    private var forwardTo: MQTTSession?
    /// Kept in the store (Session Expiry Interval > 0 and a store configured): subscriptions, progress
    /// through the session message log and inbound QoS 2 ids are written as they change.
    private(set) var persistent = false
    /// The expiry the stored record carries.
    private var storedExpiry: UInt32 = 0
    /// Holds a claim on the session among instances sharing the database (`StoreSessionOwnership`),
    /// given back once the session ends here or another instance takes it over.
    var claimed = false

    init(clientID: String, eventLoop: any EventLoop, services: MQTTServices, state: MQTTSessionState? = nil) {
        self.clientID = clientID
        self.eventLoop = eventLoop
        self.services = services
        self.metricsSlot = services.metricsSlot
        self.state = state ?? MQTTSessionState(maxQueued: services.configuration.settings.maxQueuedMessages)
    }

    // MARK: - Bus deliveries

    package func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        // Presence joins and leaves have no MQTT form (clients read presence through the API).
        guard message.isPublication else { return .skipped }
        var subscription = subscription
        if busSubscriptions.count > 1, services.configuration.singleCopyForOverlaps {
            // The bus calls once per matching subscription: the first call sends the one copy.
            if message === lastFoldedMessage { return .skipped }
            if let folded = folded(message, first: subscription) {
                lastFoldedMessage = message
                subscription = folded
            }
        }
        if let connection { return connection.deliver(message, for: subscription, context: &context) }
        if let forwardTo {
            let filter = subscription.filter.text
            forwardTo.eventLoop.execute { forwardTo.deliverForwarded(message, filter: filter) }
            return .skipped
        }
        // Offline: QoS 1/2 wait in the session; QoS 0 is not kept (§4.1).
        let qos = min(message.headers.qos ?? 0, subscription.options.maxQoS)
        guard qos > 0 else { return .dropped }
        let packet = MQTTMessageMapping.publishPacket(
            message, qos: MQTTQoS(rawValue: qos)!, retain: retainFlag(message, subscription),
            subscriptionIdentifiers: subscription.options.identifiers)
        let sequence = persistent ? message.headers.durableSequence ?? 0 : 0
        switch state.offer(packet, expiresAt: message.headers.expiresAt, window: 0, canSend: false, sequence: sequence)
        {
        case .dropped: return .dropped
        case .queued, .send: return .skipped
        }
    }

    package func flushDeliveries() {
        lastFoldedMessage = nil
        connection?.flushDeliveries()
    }

    /// Every subscription of this session that `message` matches, folded into one delivery: the highest
    /// QoS, every subscription identifier, retain-as-published if any asks for it ([MQTT-3.3.4-2],
    /// [MQTT-3.3.4-4]). nil when only one matches. Shared subscriptions are not folded (each group
    /// delivers on its own).
    private func folded(_ message: BusMessage, first: BusSubscription) -> BusSubscription? {
        guard first.filter.shareGroup == nil else { return nil }
        var matching = 0
        var options = first.options
        options.identifier = nil
        var identifiers: [Int] = []
        for candidate in busSubscriptions.values
        where candidate.filter.shareGroup == nil && candidate.filter.matches(message.topic)
            && !(candidate.options.noLocal && message.publisherID == clientID)
        {
            matching += 1
            options.maxQoS = max(options.maxQoS, candidate.options.maxQoS)
            if let identifier = candidate.options.identifier { identifiers.append(identifier) }
        }
        guard matching > 1 else { return nil }
        options.noLocal = false
        options.moreIdentifiers = identifiers.sorted()
        return first.detached(options: options)
    }

    /// Live messages carry RETAIN only for retain-as-published subscriptions ([MQTT-3.3.1-12]/[-13]).
    func retainFlag(_ message: BusMessage, _ subscription: BusSubscription) -> Bool {
        guard message.headers.retain else { return false }
        return state.subscriptions[subscription.filter.text]?.options.retainAsPublished ?? false
    }

    // MARK: - Subscriptions

    /// Subscribes on the bus (or replaces the subscription to the same filter, [MQTT-3.8.4-3]); returns
    /// whether it is new. (Which subscriptions to make, and the Retain Handling that depends on whether one
    /// is new, are `MQTTSubscribeStateMachine`'s decisions.)
    func subscribe(_ filter: TopicFilter, _ record: MQTTSessionState.Subscription) -> Bool {
        let isNew = busSubscriptions[filter.text] == nil
        // A replaced subscription keeps its presence entry: the new one's join is then no news.
        if let old = busSubscriptions.removeValue(forKey: filter.text) { services.bus.unsubscribe(old) }
        state.subscriptions[filter.text] = record
        // A session restored without its connection (after a restart) is a guest to record view rules until
        // its client is back: nothing it might not see is queued for it.
        let options =
            connection?.identity.subscriptionOptions(
                noLocal: record.options.noLocal, maxQoS: record.options.maxQoS.rawValue, identifier: record.identifier)
            ?? SubscriptionOptions(
                noLocal: record.options.noLocal, maxQoS: record.options.maxQoS.rawValue, identifier: record.identifier,
                viewer: .guest)
        busSubscriptions[filter.text] =
            services.bus.subscribe(
                filter, subscriber: self, subscriberID: clientID, options: options, presence: connection?.info.presence
            ).subscription
        if persistent, let persistence = services.persistence {
            if isNew { persistence.subscriptionsChanged(by: 1) }
            persistence.persist(
                [
                    .saveSubscription(
                        clientID: clientID,
                        StoredSubscription(
                            filter: filter.text, options: Self.optionsByte(record.options),
                            identifier: record.identifier, sinceSeq: persistence.currentSequence))
                ], on: eventLoop)
        }
        return isNew
    }

    func unsubscribe(_ filter: String) -> Bool {
        state.subscriptions[filter] = nil
        guard let subscription = busSubscriptions.removeValue(forKey: filter) else { return false }
        services.bus.unsubscribe(subscription, presenceClientID: connection?.info.id)
        if persistent, let persistence = services.persistence {
            persistence.subscriptionsChanged(by: -1)
            persistence.persist([.deleteSubscription(clientID: clientID, filter: filter)], on: eventLoop)
        }
        return true
    }

    /// The SUBSCRIBE options byte (§3.8.3.1), as the store keeps it.
    static func optionsByte(_ options: MQTTSubscription) -> UInt8 {
        var byte = options.maxQoS.rawValue
        if options.noLocal { byte |= 0x04 }
        if options.retainAsPublished { byte |= 0x08 }
        return byte | options.retainHandling << 4
    }

    // MARK: - Persistence

    /// Makes the session persistent with `expirySeconds`, or not (0): the stored record follows.
    /// `disconnectedAt` is 0 while a client is connected.
    func persist(expirySeconds: UInt32, disconnectedAt: UInt64) {
        guard let persistence = services.persistence else { return }
        if expirySeconds == 0 {
            guard persistent else { return }
            persistent = false
            persistence.subscriptionsChanged(by: -busSubscriptions.count)
            persistence.persist([.deleteSession(clientID: clientID)], on: eventLoop)
            return
        }
        var writes: [StoreWrite] = [
            .saveSession(.init(clientID: clientID, expirySeconds: expirySeconds, disconnectedAt: disconnectedAt))
        ]
        if !persistent {
            // Becoming persistent: what the session already has goes into the store with it.
            persistent = true
            persistence.subscriptionsChanged(by: busSubscriptions.count)
            for (filter, record) in state.subscriptions {
                writes.append(
                    .saveSubscription(
                        clientID: clientID,
                        StoredSubscription(
                            filter: filter, options: Self.optionsByte(record.options), identifier: record.identifier,
                            sinceSeq: persistence.currentSequence)))
            }
        }
        storedExpiry = expirySeconds
        persistence.persist(writes, on: eventLoop)
    }

    /// Ends the session in `seconds` unless a client resumes it (UInt32.max: never).
    func scheduleExpiry(seconds: UInt32) {
        expiryTask?.cancel()
        expiryTask = nil
        guard seconds != UInt32.max else { return }
        expiryTask = eventLoop.scheduleTask(in: .seconds(Int64(seconds))) { [self] in end() }
    }

    /// A session restored from the store at startup (offline until its client comes back).
    func restored(expirySeconds: UInt32) {
        persistent = true
        storedExpiry = expirySeconds
    }

    /// Records progress on a stored message (fire and forget unless `then` is given: it runs on this
    /// loop once the record is durable, with the failure if any).
    func recordDelivery(
        sequence: UInt64, packetID: UInt16, _ state: StoredDelivery.State, then: ((String?) -> Void)? = nil
    ) {
        guard persistent, sequence > 0, let persistence = services.persistence else {
            then?(nil)
            return
        }
        let write = StoreWrite.saveDelivery(
            clientID: clientID, StoredDelivery(seq: sequence, packetID: packetID, state: state))
        persistence.persist([write], on: eventLoop, then: then)
    }

    /// A message routed to this session's old subscription before it moved here (see `move(to:)`).
    func deliverForwarded(_ message: BusMessage, filter: String) {
        guard !ended, let subscription = busSubscriptions[filter] else { return }
        var context = DeliveryContext(message: message)
        if case .delivered = deliver(message, for: subscription, context: &context) { flushDeliveries() }
    }

    // MARK: - Lifetime

    /// Ends the session: nothing more is delivered or kept; a pending will is published now ([MQTT-3.1.3-9]).
    func end() {
        guard !ended else { return }
        ended = true
        expiryTask?.cancel()
        expiryTask = nil
        if let connection { leavePresence(connection.info.id) }
        for subscription in busSubscriptions.values { services.bus.unsubscribe(subscription) }
        if persistent, let persistence = services.persistence {
            persistent = false
            persistence.subscriptionsChanged(by: -busSubscriptions.count)
            persistence.persist([.deleteSession(clientID: clientID)], on: eventLoop)
        }
        busSubscriptions.removeAll()
        services.sessions.remove(self)
        releaseClaim()
        publishPendingWill()
    }

    /// Another instance sharing the database takes the session over (runs on this loop): it leaves this
    /// instance (`setAside`) and its claim is given back.
    func handOver() {
        let (clientID, services) = (clientID, services)
        setAside { claimed in
            if claimed { services.persistence?.ownership?.release(clientID) }
        }
    }

    /// The session leaves this instance without being deleted, for the one that reads it fresh from the
    /// database next (several instances on one database; runs on this loop): a client connected here is
    /// taken over (5.0: DISCONNECT 0x8E); the session's last record (its disconnection) is written after
    /// everything it wrote before; `then` runs on this loop once that is durable, with whether the session
    /// held a claim (now the caller's).
    func setAside(then: @escaping (_ claimed: Bool) -> Void) {
        guard !ended else { return then(false) }
        ended = true
        if let connection {
            connection.sessionTakenOver()
            self.connection = nil
        }
        expiryTask?.cancel()
        expiryTask = nil
        willTask?.cancel()
        willTask = nil
        pendingWill = nil
        for subscription in busSubscriptions.values { services.bus.unsubscribe(subscription) }
        let claimed = self.claimed
        self.claimed = false
        guard let persistence = services.persistence else { return then(claimed) }
        if persistent {
            persistence.subscriptionsChanged(by: -busSubscriptions.count)
            persistence.persist(
                [
                    .saveSession(
                        .init(clientID: clientID, expirySeconds: storedExpiry, disconnectedAt: services.bus.clock()))
                ], on: eventLoop)
        }
        persistent = false
        busSubscriptions.removeAll()
        services.sessions.remove(self)
        persistence.persist([], on: eventLoop) { _ in then(claimed) }
    }

    /// Gives the session's claim back once what this loop wrote before is durable (writes of one loop
    /// reach the store in order, and it commits them in order).
    private func releaseClaim() {
        guard claimed, let persistence = services.persistence, let ownership = persistence.ownership else { return }
        claimed = false
        let clientID = clientID
        persistence.persist([], on: eventLoop) { _ in ownership.release(clientID) }
    }

    /// Moves the session to `loop` (a client reconnected there; runs on this session's loop). The
    /// subscriptions are transferred to the new session object in one registry step each, so every
    /// message goes to exactly one of the two; what was already routed here is forwarded. Nothing is lost
    /// or duplicated.
    func move(to loop: any EventLoop) -> MQTTSession {
        let moved = MQTTSession(clientID: clientID, eventLoop: loop, services: services, state: state)
        moved.persistent = persistent
        moved.storedExpiry = storedExpiry
        moved.claimed = claimed
        persistent = false
        claimed = false
        var transferred: [String: BusSubscription] = [:]
        for (text, subscription) in busSubscriptions {
            transferred[text] = services.bus.transfer(subscription, to: moved, subscriberID: clientID)
        }
        moved.busSubscriptions = transferred
        busSubscriptions.removeAll()
        forwardTo = moved
        ended = true
        connection = nil
        expiryTask?.cancel()
        willTask?.cancel()
        pendingWill = nil
        services.sessions.store(moved)
        return moved
    }

    /// The connection went away: keep the session for `expirySeconds` (0: end it now).
    func connectionLost(expirySeconds: UInt32, will: BusMessage?, willDelaySeconds: UInt32) {
        connection = nil
        if expirySeconds != 0 { persist(expirySeconds: expirySeconds, disconnectedAt: services.bus.clock()) }
        if let will {
            if willDelaySeconds == 0 || expirySeconds == 0 {
                pendingWill = will
                if expirySeconds != 0 { publishPendingWill() }
            } else {
                pendingWill = will
                willTask = eventLoop.scheduleTask(in: .seconds(Int64(willDelaySeconds))) { [self] in
                    publishPendingWill()
                }
            }
        }
        if expirySeconds == 0 {
            end()
        } else if expirySeconds != UInt32.max {
            expiryTask = eventLoop.scheduleTask(in: .seconds(Int64(expirySeconds))) { [self] in end() }
        }
    }

    /// A client resumed the session: the timers stop and a delayed will is not sent ([MQTT-3.1.3-10]).
    func resumed(by connection: MQTTConnectionHandler) {
        expiryTask?.cancel()
        expiryTask = nil
        willTask?.cancel()
        willTask = nil
        pendingWill = nil
        self.connection = connection
    }

    /// Takes the connection `clientID` off the presence of every subscription.
    private func leavePresence(_ clientID: String) {
        for subscription in busSubscriptions.values {
            services.bus.leavePresence(subscription.filter, clientID: clientID, on: eventLoop)
        }
    }

    private func publishPendingWill() {
        willTask?.cancel()
        willTask = nil
        guard let will = pendingWill else { return }
        pendingWill = nil
        if will.headers.retain { services.retained.retain(will) }
        services.bus.publish(will, on: eventLoop)
    }
}
