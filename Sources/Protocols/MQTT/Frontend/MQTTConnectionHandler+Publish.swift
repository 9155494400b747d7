import Atomics
import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore
import Storage

/// A publish waiting in `MQTTConnectionHandler.pendingPublishes`: its acknowledgement goes out in order.
struct PendingPublish {
    var message: BusMessage
    var ack: MQTTAckPacket?
    /// Submitted to the store; `ready` once the commit answered.
    var stored: Bool
    var ready: Bool
    var failure: String?
    /// Already routed; waiting only for the streams that capture its topic to store it (`ready` once they
    /// answered), then acknowledged.
    var routed = false
}

extension MQTTConnectionHandler {
    /// The keys of shared QoS 0 encodings in `DeliveryContext`: one per version and retain flag.
    static func sharedForm(_ version: MQTTProtocolVersion, retain: Bool) -> WireFormKey {
        WireFormKey(MQTTConnectionHandler.self, variant: Int(version.rawValue) * 2 + (retain ? 1 : 0))
    }

    // MARK: - Inbound PUBLISH

    func publishReceived(_ received: MQTTPublishPacket) throws(MQTTError) {
        guard let session else { throw .protocolError("PUBLISH before CONNECT") }
        let action = try machine.publishReceived(received, session: &session.state)
        pendingStatistics.messagesReceived += 1
        switch action {
        case .acknowledgeOnly(let ack), .refuse(let ack):
            write(.ack(ack))
        case .publish(let packet, let ack):
            let topic: Topic
            if let lastPublishTopic,
                TopicBytes.identical(packet.topic, lastPublishName) || TopicBytes.equal(packet.topic, lastPublishName)
            {
                topic = lastPublishTopic
            } else {
                do { topic = try Topic(packet.topic, limits: bus.configuration.topicLimits) } catch {
                    throw .topicNameInvalid(packet.topic)
                }
                guard identity.permissions.mayPublish(topic) else {
                    return publishRefused(packet, ack: ack, session: session)
                }
                if identity.permissions.publishDecisionLasts(topic) {
                    lastPublishName = packet.topic
                    lastPublishTopic = topic
                }
            }
            if !payloadSchemas.isEmpty,
                let violation = payloadSchemas.check(
                    topic, payload: packet.payload, contentType: packet.properties.contentType)
            {
                return write(
                    .ack(try machine.publishInvalid(packet, reason: violation.description, session: &session.state)))
            }
            let now = readTime
            shard.stats.published(slot: metricsSlot, bytes: packet.payload.readableBytes)
            // QoS 1/2 that a persistent session may be owed, or that changes a retained message, is stored
            // before it is routed and acknowledged (MQTTPersistence).
            if packet.qos != .atMostOnce, let persistence = services.persistence,
                persistence.isNeeded || packet.retain
            {
                let sequence = persistence.isNeeded ? persistence.nextSequence() : nil
                let message = MQTTMessageMapping.busMessage(
                    packet, topic: topic, publisherID: session.clientID, now: now, durableSequence: sequence)
                var writes: [StoreWrite] = []
                if let sequence { writes.append(.saveSessionMessage(seq: sequence, message: message)) }
                if packet.retain {
                    writes.append(.retain(topic: topic, message: packet.payload.readableBytes == 0 ? nil : message))
                }
                if packet.qos == .exactlyOnce, session.persistent, let id = packet.packetID {
                    writes.append(.inboundQoS2(clientID: session.clientID, packetID: id, received: true))
                }
                pendingPublishes.append(PendingPublish(message: message, ack: ack, stored: true, ready: false))
                persistence.persist(writes, on: eventLoop) { [self] failure in publishStored(failure: failure) }
                return
            }
            let message = MQTTMessageMapping.busMessage(packet, topic: topic, publisherID: session.clientID, now: now)
            if pendingPublishHead < pendingPublishes.count {
                pendingPublishes.append(PendingPublish(message: message, ack: ack, stored: false, ready: true))
                return
            }
            route(message, ack: ack, storedRetain: false)
        }
    }

    /// The oldest stored publish is durable (or failed): release what is ready, in order.
    private func publishStored(failure: String?) {
        if let index = pendingPublishes[pendingPublishHead...].firstIndex(where: {
            $0.stored && !$0.ready && !$0.routed
        }) {
            pendingPublishes[index].ready = true
            pendingPublishes[index].failure = failure
        }
        releasePublishes()
    }

    /// Routes and acknowledges the ready publishes at the head of `pendingPublishes`, in order.
    private func releasePublishes() {
        while pendingPublishHead < pendingPublishes.count, pendingPublishes[pendingPublishHead].ready {
            let next = pendingPublishes[pendingPublishHead]
            if !next.routed, next.failure == nil, let ack = next.ack, shard.waitsForStorage(next.message.topic) {
                // Stored for the sessions; now routed, and acknowledged once the streams have it too. The
                // entry waits before the publish: the streams may answer inside it (a refusal as it comes).
                pendingPublishes[pendingPublishHead].ack = retainedForStreams(
                    next.message, ack: ack, storedRetain: next.stored)
                pendingPublishes[pendingPublishHead].routed = true
                pendingPublishes[pendingPublishHead].ready = false
                publishIntoStreams(next.message)
                break
            }
            pendingPublishHead += 1
            if let failure = next.failure {
                // Not stored: not routed. 5.0 says so in the acknowledgement; 3.1.1 has no way to, so the
                // connection closes and the client sends it again.
                guard version == .v5, var ack = next.ack else {
                    run(machine.errorHappened(.storeFailed(failure)))
                    break
                }
                ack.reasonCode = .unspecifiedError
                // A PUBREC of 0x80 or more ends the QoS 2 flow and frees its packet id (§4.3.3): a PUBREL
                // that still comes (paho sends one whatever the PUBREC said) is answered 0x92 Packet
                // Identifier not found, not a PUBCOMP that would read as delivered.
                if ack.kind == .pubRec { session?.state.inboundQoS2.remove(ack.packetID) }
                write(.ack(ack))
                continue
            }
            if next.routed {
                if let ack = next.ack { write(.ack(ack)) }
            } else {
                route(next.message, ack: next.ack, storedRetain: next.stored)
            }
        }
        if pendingPublishHead == pendingPublishes.count {
            pendingPublishes.removeAll(keepingCapacity: true)
            pendingPublishHead = 0
        }
        flushSoon()
    }

    /// The streams capturing a routed publish answered: its acknowledgement is released in order, or, when
    /// a stream refused it or could not store it, 5.0's PUBACK/PUBREC 0x80 (3.1.1: the connection closes).
    private func streamsAnswered(_ acks: [StreamAppendAck]) {
        guard let index = pendingPublishes[pendingPublishHead...].firstIndex(where: { $0.routed && !$0.ready })
        else { return }
        pendingPublishes[index].ready = true
        for ack in acks {
            if case .refused(let reason) = ack.outcome {
                pendingPublishes[index].failure = "stream \(ack.stream): \(reason)"
                break
            }
        }
        releasePublishes()
    }

    /// Retains a QoS 1/2 publish whose topic streams capture; returns its acknowledgement with the retained
    /// outcome, to be sent once `streamsAnswered` (`publishIntoStreams`).
    private func retainedForStreams(_ message: BusMessage, ack: MQTTAckPacket, storedRetain: Bool) -> MQTTAckPacket {
        var ack = ack
        if message.headers.retain, !services.retained.retain(message, persist: !storedRetain), version == .v5 {
            ack.reasonCode = .quotaExceeded
        }
        return ack
    }

    /// Routes a publish whose pending entry (routed, not ready) is in place: the streams' answer readies it,
    /// later or at once — a refusal decided before any store is given inside this call.
    private func publishIntoStreams(_ message: BusMessage) {
        shard.publish(message, placement: nil) { [self] acks in
            streamsAnswered(acks)
        }
    }

    /// Retains, routes and acknowledges a publish. `storedRetain`: the retained change is already stored.
    /// A QoS 1/2 publish into a stream is acknowledged once the stream stored it (`publishIntoStreams`).
    private func route(_ message: BusMessage, ack: MQTTAckPacket?, storedRetain: Bool) {
        if let ack, shard.waitsForStorage(message.topic) {
            let answer = retainedForStreams(message, ack: ack, storedRetain: storedRetain)
            pendingPublishes.append(
                PendingPublish(message: message, ack: answer, stored: false, ready: false, routed: true))
            publishIntoStreams(message)
            return
        }
        var code = MQTTReasonCode.success
        if message.headers.retain {
            // [MQTT-3.3.1-5] store (or, when empty, clear) the topic's retained message.
            if !services.retained.retain(message, persist: !storedRetain) { code = .quotaExceeded }
        }
        shard.publish(message)
        if var ack {
            if version == .v5 && code != .success { ack.reasonCode = code }
            write(.ack(ack))
        }
    }

    /// A PUBLISH beyond the client's rights is never delivered. 5.0 says so: PUBACK/PUBREC 0x87 (which
    /// ends a QoS 2 flow, §4.3.3); 3.1.1 has no refusal code, so the message is acknowledged as usual
    /// and dropped (as mosquitto and EMQX do); QoS 0 is dropped in both.
    private func publishRefused(_ packet: MQTTPublishPacket, ack: MQTTAckPacket?, session: MQTTSession) {
        services.counters.countPermissionDenied()
        guard var ack else { return }
        if version == .v5 {
            ack.reasonCode = .notAuthorized
            if let id = packet.packetID { session.state.inboundQoS2.remove(id) }
        }
        write(.ack(ack))
    }

    // MARK: - Acknowledgements

    func ackReceived(_ ack: MQTTAckPacket) throws(MQTTError) {
        guard let session else { throw .protocolError("acknowledgement before CONNECT") }
        switch ack.kind {
        case .pubRel:
            let held = session.state.inboundQoS2.contains(ack.packetID)
            let reply = machine.pubRelReceived(ack.packetID, session: &session.state)
            guard held, session.persistent, let persistence = services.persistence else { return write(.ack(reply)) }
            // PUBCOMP only once the id is forgotten durably: after it the client may reuse the id for a new
            // message, which a stale id would make us drop as a duplicate.
            let clientID = session.clientID
            persistence.persist(
                [.inboundQoS2(clientID: clientID, packetID: ack.packetID, received: false)], on: eventLoop
            ) { [self] _ in
                write(.ack(reply))
                flushSoon()
            }
        case .pubRec where ack.reasonCode.isFailure:
            // [MQTT-4.4.0-2] a PUBREC with a failure code ends the QoS 2 flow: acknowledged, never resent.
            let sequence = session.state.sequence(ofInflight: ack.packetID)
            session.state.complete(ack.packetID)
            session.recordDelivery(sequence: sequence, packetID: ack.packetID, .done)
            drainQueue()
        case .pubAck, .pubRec, .pubComp:
            let sequence = session.state.sequence(ofInflight: ack.packetID)
            switch session.state.acknowledged(ack.kind, packetID: ack.packetID) {
            case .completed:
                session.recordDelivery(sequence: sequence, packetID: ack.packetID, .done)
                drainQueue()
            case .sendPubRel:
                let pubRel = MQTTAckPacket(.pubRel, packetID: ack.packetID)
                guard sequence > 0, session.persistent else { return write(.ack(pubRel)) }
                // PUBREL once "released" is durable: a restart then resends PUBREL, never the PUBLISH the
                // client already completed (which it would take as a new message).
                session.recordDelivery(sequence: sequence, packetID: ack.packetID, .released) { [self] _ in
                    write(.ack(pubRel))
                    flushSoon()
                }
            case .unknown:
                // MQTT 5.0 §3.6.2.1: a PUBREC for an unknown identifier is answered with PUBREL 0x92.
                if ack.kind == .pubRec {
                    write(.ack(MQTTAckPacket(.pubRel, packetID: ack.packetID, reasonCode: .packetIdentifierNotFound)))
                }
            }
        }
    }

    // MARK: - Outbound (deliveries from the bus, through the session)

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        // Checked without binding: the common path below needs neither the session nor the context.
        guard let version, session != nil, self.context != nil, !machine.isClosed else { return .skipped }
        let headers = message.headers
        let qos = min(headers.qos ?? 0, subscription.options.maxQoS)
        let retain = headers.retain && session.unsafelyUnwrapped.retainFlag(message, subscription)
        let maxSize = outboundMaximumPacketSize
        let perConnectionForm =
            version == .v5
            && (subscription.options.identifier != nil || !subscription.options.moreIdentifiers.isEmpty
                || outboundAliases.isEnabled)
        // Over the soft limit: written all the same while its publishers pause, within its bounds.
        let admitted = writable || admitWhileBehind(message)
        if qos == 0 && !perConnectionForm {
            guard admitted else { return .dropped }
            if canWriteDirectly, Self.needsNoProperties(message, version: version) {
                // The common case: written straight into the outbound buffer, no packet value, no buffer
                // of its own (re-encoding costs less than copying a shared encoding would).
                let topic = message.topic.name
                let size = MQTTPublishPacket.atMostOnceSize(
                    topicBytes: topic.utf8.count, payloadBytes: message.payload.readableBytes, version: version)
                // [MQTT-3.1.2-25] a packet larger than the client's maximum is not sent.
                guard size <= maxSize else { return .dropped }
                if size <= Self.copiedPublishLimit {
                    MQTTPublishPacket.writeAtMostOnce(
                        topic: topic, payload: message.payload, retain: retain, version: version, to: &out)
                    needsFlush = true
                    pendingStatistics.messagesSent += 1
                    pendingStatistics.bytesSent += size
                    return .delivered(bytes: size)
                }
            }
            // One encoding per version and retain flag per message per loop, shared by every subscriber.
            let channelContext = self.context.unsafelyUnwrapped
            let clock = bus.clock
            let bytes = context.encoded(form: Self.sharedForm(version, retain: retain)) { message in
                var packet = MQTTMessageMapping.publishPacket(
                    message, qos: .atMostOnce, retain: retain, subscriptionIdentifiers: [])
                if let expiresAt = message.headers.expiresAt,
                    let remaining = MQTTMessageMapping.remainingExpiry(expiresAt, now: clock())
                {
                    packet.properties.messageExpiryInterval = remaining
                }
                var buffer = channelContext.channel.allocator.buffer(capacity: message.payload.readableBytes + 64)
                MQTTPacket.publish(packet).write(version: version, to: &buffer)
                return buffer
            }
            // [MQTT-3.1.2-25] a packet larger than the client's maximum is not sent.
            guard bytes.readableBytes <= maxSize else { return .dropped }
            writePublish(bytes, context: channelContext)
            pendingStatistics.messagesSent += 1
            pendingStatistics.bytesSent += bytes.readableBytes
            return .delivered(bytes: bytes.readableBytes)
        }
        let session = self.session.unsafelyUnwrapped
        let packet = MQTTMessageMapping.publishPacket(
            message, qos: MQTTQoS(rawValue: qos)!, retain: retain,
            subscriptionIdentifiers: version == .v5 ? subscription.options.identifiers : [])
        let window = outboundWindow
        let sequence = session.persistent ? message.headers.durableSequence ?? 0 : 0
        switch session.state.offer(
            packet, expiresAt: message.headers.expiresAt, window: window, canSend: writable, sequence: sequence)
        {
        case .send(let packet):
            return send(packet, expiresAt: message.headers.expiresAt)
        case .queued:
            return .skipped
        case .dropped:
            return .dropped
        }
    }

    /// Whether `message` maps to a PUBLISH without properties in `version`: always in 3.1.1 (it has
    /// none); in 5.0 when the message carries nothing `MQTTMessageMapping.publishPacket` would send.
    @inline(__always)
    static func needsNoProperties(_ message: BusMessage, version: MQTTProtocolVersion) -> Bool {
        guard version.hasProperties else { return true }
        let headers = message.headers
        return headers.payloadIsUTF8 == nil && !headers.hasContentTypeOrProperties && headers.replyTo == nil
            && headers.correlationID == nil && headers.expiresAt == nil
    }

    /// Writes an outbound PUBLISH with its remaining expiry; returns the delivery outcome.
    @discardableResult
    func send(_ packet: MQTTPublishPacket, expiresAt: UInt64?) -> DeliveryOutcome {
        guard let context, let version else { return .skipped }
        var packet = packet
        if expiresAt == nil {
            // Nothing to adjust; no clock read.
        } else if let remaining = MQTTMessageMapping.remainingExpiry(expiresAt, now: bus.clock()) {
            packet.properties.messageExpiryInterval = remaining
        } else {
            // Expired while waiting ([MQTT-3.3.2-5]): not delivered; the slot is freed.
            if let id = packet.packetID { session?.state.complete(id) }
            return .dropped
        }
        if version == .v5 { outboundAliases.apply(to: &packet) }
        var buffer = context.channel.allocator.buffer(capacity: packet.payload.readableBytes + 64)
        let size = MQTTPacket.publish(packet).write(version: version, to: &buffer)
        if size > outboundMaximumPacketSize {
            // [MQTT-3.1.2-25] too large for the client: discarded as if delivered.
            if let id = packet.packetID { session?.state.complete(id) }
            return .dropped
        }
        pendingStatistics.messagesSent += 1
        pendingStatistics.bytesSent += size
        // QoS 2 to a persistent session: the packet id is stored before the PUBLISH leaves, so after a crash
        // it is resent with that id and the client never takes it for a new message. (QoS 1 goes at once: a
        // resend after a crash may carry a new id, which is a duplicate QoS 1 allows.)
        if packet.qos == .exactlyOnce, let id = packet.packetID, let session, session.persistent, !packet.duplicate {
            let sequence = session.state.sequence(ofInflight: id)
            if sequence > 0 {
                writeWhenRecorded(buffer, session: session, sequence: sequence, packetID: id)
                return .delivered(bytes: size)
            }
        }
        writePublish(buffer, context: context)
        return .delivered(bytes: size)
    }

    /// Moves held resends, then queued messages, into the window while it has room.
    func drainQueue() {
        guard let session, version != nil, writable else { return }
        if heldResendIndex < heldResends.count { resendHeld(session) }
        guard heldResendIndex == heldResends.count, session.state.queuedCount > 0 else { return flushIfNeeded() }
        let window = outboundWindow
        for (packet, expiresAt) in session.state.drain(window: window, now: bus.clock()) {
            send(packet, expiresAt: expiresAt)
        }
        flushIfNeeded()
    }

    /// On session resume: PUBREL for released messages and unacknowledged PUBLISH packets again with DUP,
    /// with their original identifiers and in their original order ([MQTT-4.4.0-1], [MQTT-4.6.0-1]), then
    /// whatever was queued while offline. The client may have come back with a smaller Receive Maximum:
    /// PUBREL is never held back by it ([MQTT-3.3.4-10]), but resent PUBLISH packets count against it
    /// together with the released messages still awaiting PUBCOMP ([MQTT-3.3.4-9]); those that do not
    /// fit wait in `heldResends` for acknowledgements.
    func resendInflight() {
        guard let session else { return }
        let items = session.state.resendOnResume()
        var outstanding = 0
        for case .pubRel(let id) in items {
            write(.ack(MQTTAckPacket(.pubRel, packetID: id)))
            outstanding += 1
        }
        heldResends = []
        heldResendIndex = 0
        for case .publish(let packet, let expiresAt) in items {
            if outstanding < outboundWindow {
                if case .delivered = send(packet, expiresAt: expiresAt) { outstanding += 1 }
            } else if let id = packet.packetID {
                heldResends.append(id)
            }
        }
        drainQueue()
    }

    /// Resends held PUBLISH packets (see `resendInflight`) while fewer than the client's Receive Maximum
    /// are outstanding on this connection.
    private func resendHeld(_ session: MQTTSession) {
        while heldResendIndex < heldResends.count {
            let id = heldResends[heldResendIndex]
            guard let entry = session.state.inflight[id] else {
                heldResendIndex += 1  // completed meanwhile (expired, or acknowledged all the same)
                continue
            }
            // Everything inflight except what is still held has been sent on this connection.
            let outstanding = session.state.inflight.count - (heldResends.count - heldResendIndex)
            guard outstanding < outboundWindow else { break }
            heldResendIndex += 1
            send(entry.packet, expiresAt: entry.expiresAt)
        }
        if heldResendIndex == heldResends.count {
            heldResends = []
            heldResendIndex = 0
        }
    }
}
