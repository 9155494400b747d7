import Atomics
import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore

extension MQTTConnectionHandler {
    /// CONNECT: negotiate, authenticate, find or create the session (taking it over from a live
    /// connection, possibly on another loop), then CONNACK and resend what the session had in flight.
    func connectReceived(_ packet: MQTTConnectPacket) {
        if !credentialsPrepared {
            // A password check may hash for a while: off the loop, with this client's input held meanwhile.
            let credentials = ClientCredentials(
                username: packet.username, password: packet.password.map { String(buffer: $0) })
            if let preparing = services.authenticator.prepare(credentials, on: eventLoop) {
                inbound.hold()
                preparing.whenComplete { [self] _ in
                    credentialsPrepared = true
                    inbound.release()
                    guard context != nil, !machine.isClosed else { return }
                    connectReceived(packet)
                    processInbound()
                    flushIfNeeded()
                }
                return
            }
        }
        // A connection limit's refusal, as MQTT names it (the machine answers CONNACK with its code).
        let refusal = admissionRefusal.map { admission -> MQTTError in
            let limit: MQTTError.ConnectionLimit =
                switch admission {
                case .rate: .rate
                case .perAddress: .perAddress
                case .total: .total
                }
            return .connectionLimit(limit, admission.message(services.connections.limits))
        }
        // Whether the bus takes the will topic (its limits); the MQTT rules on it are the machine's.
        let willTopicIsBusTopic = packet.will.map { (try? Topic($0.topic)) != nil } ?? true
        let action = machine.connectReceived(packet, refusal: refusal, willTopicIsBusTopic: willTopicIsBusTopic) {
            "sb-" + bus.makeIdentifier() + bus.makeIdentifier()
        }
        let negotiated: MQTTConnectionStateMachine.Negotiated
        switch action {
        case .refuse(let refusing):
            return run(refusing)
        case .accept(let accepted):
            negotiated = accepted
        }
        // User name and password (static users), or a token (JWT, static token) in the password.
        let credentials = ClientCredentials(
            username: packet.username, password: packet.password.map { String(buffer: $0) },
            clientID: negotiated.clientID, certificateSubject: certificateSubject)
        switch services.authenticator.authenticate(credentials) {
        case .refused(let reason):
            services.counters.countRefused()
            services.counters.countAuthenticationFailure()
            // 5.0: 0x86 Bad User Name or Password; 3.1.1: return code 4 (§3.2.2.3).
            return run(machine.connectRefused(.badUserNameOrPassword(reason)))
        case .accepted(let identity):
            if let will = negotiated.will, let topic = try? Topic(will.topic), !identity.permissions.mayPublish(topic) {
                // A will the client could not publish itself is not accepted either (0x87; 3.1.1: 5).
                services.counters.countPermissionDenied()
                return run(machine.connectRefused(.notAuthorized("not allowed to publish the will to \(will.topic)")))
            }
            lifecycle.identity = identity
            lastPublishTopic = nil
        }
        let (userID, clientID) = (identity.userID, negotiated.clientID)
        lifecycle.update {
            $0.userID = userID
            $0.name = clientID
        }
        // Its publishes carry the client identifier: publisher flow control finds it by that.
        services.shared.connections.setPublisherID(clientID, for: info.id)
        inbound.hold()
        acquireSession(negotiated)
    }

    /// The verified client certificate's common name (mTLS), if any.
    private var certificateSubject: String? { context?.channel.verifiedClientCommonName }

    /// What became of a previous session with the same client identifier.
    private enum Previous: @unchecked Sendable {
        /// None.
        case none
        /// Discarded (Clean Start); it held a claim among instances sharing the database, now the new one's.
        case discarded(claimed: Bool)
        /// On this loop: reused as is.
        case here(MQTTSession)
        /// Moved here from another loop (already stored and subscribed).
        case moved(MQTTSession)
    }

    private func acquireSession(_ negotiated: MQTTConnectionStateMachine.Negotiated) {
        if let ownership = services.persistence?.ownership,
            !negotiated.cleanStart || services.sessions.session(for: negotiated.clientID) == nil
        {
            // Several instances share the database: the session is had only with a claim on it, and read
            // fresh (a Clean Start of a session held here is a takeover here, as with one instance).
            return claimSession(negotiated, ownership: ownership)
        }
        acquireLocalSession(negotiated)
    }

    /// Finds the session among this instance's (taking it over from a live connection here), or starts one.
    func acquireLocalSession(_ negotiated: MQTTConnectionStateMachine.Negotiated) {
        guard let existing = services.sessions.session(for: negotiated.clientID) else {
            if services.sessions.count >= services.configuration.settings.maxSessions {
                services.counters.countRefused()
                inbound.release()
                releasePendingClaim()
                return run(machine.connectRefused(.sessionLimit))
            }
            return sessionAcquired(negotiated, previous: .none)
        }
        let loop = eventLoop
        let takeOver: @Sendable () -> Previous = {
            if let live = existing.connection, live !== self {
                // [MQTT-3.1.4-3] the existing connection is closed (5.0: DISCONNECT 0x8E).
                live.sessionTakenOver()
                existing.connection = nil
            }
            if negotiated.cleanStart {
                // [MQTT-3.1.2-4] Clean Start discards the existing session (its claim stays with this client).
                let claimed = existing.claimed
                existing.claimed = false
                existing.end()
                return .discarded(claimed: claimed)
            }
            if existing.eventLoop === loop { return .here(existing) }
            return .moved(existing.move(to: loop))
        }
        if existing.eventLoop.inEventLoop {
            sessionAcquired(negotiated, previous: takeOver())
        } else {
            let bound = NIOLoopBound(self, eventLoop: loop)
            existing.eventLoop.submit(takeOver).hop(to: loop).whenComplete { result in
                let handler = bound.value
                guard case .success(let previous) = result else { return handler.closeConnection() }
                handler.sessionAcquired(negotiated, previous: previous)
            }
        }
    }

    private func sessionAcquired(_ negotiated: MQTTConnectionStateMachine.Negotiated, previous: Previous) {
        guard context != nil, !machine.isClosed else {
            if case .discarded(claimed: true) = previous { pendingClaim = negotiated.clientID }
            releasePendingClaim()
            switch previous {
            case .here(let session) where session.connection == nil, .moved(let session):
                session.connectionLost(expirySeconds: negotiated.sessionExpirySeconds, will: nil, willDelaySeconds: 0)
            default:
                break
            }
            return
        }
        let session: MQTTSession
        var present = false
        switch previous {
        case .none, .discarded:
            session = MQTTSession(clientID: negotiated.clientID, eventLoop: eventLoop, services: services)
            if case .discarded(claimed: true) = previous { pendingClaim = negotiated.clientID }
            session.claimed = pendingClaim != nil
            pendingClaim = nil
        case .here(let existing):
            session = existing
            present = true
        case .moved(let moved):
            session = moved
            present = true
        }
        services.sessions.store(session)
        if present && identity.permissions.subscribe != .all {
            // A resumed session keeps only the subscriptions this connection's identity may hold (it
            // may be another user's, or the rules may have changed).
            for text in Array(session.state.subscriptions.keys) {
                if let filter = try? TopicFilter(text), identity.permissions.maySubscribe(filter) { continue }
                _ = session.unsubscribe(text)
            }
        }
        session.resumed(by: self)
        session.persist(expirySeconds: negotiated.sessionExpirySeconds, disconnectedAt: 0)
        self.session = session
        ending = (negotiated.will, negotiated.sessionExpirySeconds)
        outboundWindow = negotiated.clientReceiveMaximum
        outboundMaximumPacketSize = negotiated.clientMaximumPacketSize
        outboundAliases = MQTTOutboundTopicAliases(maximum: negotiated.clientTopicAliasMaximum)
        version = negotiated.version
        inbound.release()
        services.statistics.clientsConnected.wrappingIncrement(ordering: .relaxed)
        write(
            .connAck(
                machine.connAck(
                    sessionPresent: present, maximumPacketSize: limits.maxPacketSize,
                    responseInformation: responseInformation(for: negotiated))))
        if present { resendInflight() }
        processInbound()
        // Called from a read (same loop) or from another loop's answer: flush either way.
        flushIfNeeded()
    }

    /// The response topic base for a client that asked for one: the configured prefix and its client
    /// identifier, when that makes a valid topic name (an identifier with `+`, `#` or too many levels gets
    /// none: the server may always omit it, §3.2.2.3.15).
    private func responseInformation(for negotiated: MQTTConnectionStateMachine.Negotiated) -> String? {
        guard negotiated.requestResponseInformation,
            let prefix = services.configuration.settings.responseInformationPrefix
        else { return nil }
        let base = prefix + negotiated.clientID
        guard base.utf8.count <= Int(UInt16.max), (try? Topic(base, limits: bus.configuration.topicLimits)) != nil
        else { return nil }
        return base
    }

    /// Another connection took the session over.
    func sessionTakenOver() {
        if let will = ending?.will, will.properties.willDelayInterval ?? 0 == 0,
            let message = makeWillMessage(will, clientID: session?.clientID ?? info.id)
        {
            // The old connection ended without DISCONNECT: its will is published (§3.1.4, §3.1.2.5).
            if message.headers.retain { services.retained.retain(message) }
            bus.publish(message, on: eventLoop)
        }
        session = nil
        run(machine.closeRequested(.sessionTakenOver))
    }

    /// The Will Message as a bus message ([MQTT-3.1.2-8]), published when the connection ends abnormally.
    func makeWillMessage(_ will: MQTTWill, clientID: String) -> BusMessage? {
        guard let topic = try? Topic(will.topic) else { return nil }
        let packet = MQTTPublishPacket(
            topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties: will.properties)
        return MQTTMessageMapping.busMessage(packet, topic: topic, publisherID: clientID, now: bus.clock())
    }
}
