import Atomics
import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore

extension MQTTConnectionHandler {
    /// The wire-form ids of shared QoS 0 encodings in `DeliveryContext` (distinct from other protocols').
    static func sharedForm(_ version: MQTTProtocolVersion, retain: Bool) -> Int {
        0x4D51_0000 + Int(version.rawValue) * 2 + (retain ? 1 : 0)
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
            do { topic = try Topic(packet.topic, limits: bus.configuration.topicLimits) } catch {
                throw .topicNameInvalid(packet.topic)
            }
            let now = bus.clock()
            let message = MQTTMessageMapping.busMessage(packet, topic: topic, publisherID: session.clientID, now: now)
            var code = MQTTReasonCode.success
            if packet.retain {
                // [MQTT-3.3.1-5] store (or, when empty, clear) the topic's retained message.
                if !services.retained.retain(message) { code = .quotaExceeded }
            }
            let shard = bus.shard(for: eventLoop)
            shard.stats.published(slot: services.metricsSlot, bytes: packet.payload.readableBytes)
            shard.publish(message)
            if var ack {
                if version == .v5 && code != .success { ack.reasonCode = code }
                write(.ack(ack))
            }
        }
    }

    // MARK: - Acknowledgements

    func ackReceived(_ ack: MQTTAckPacket) throws(MQTTError) {
        guard let session else { throw .protocolError("acknowledgement before CONNECT") }
        switch ack.kind {
        case .pubRel:
            write(.ack(machine.pubRelReceived(ack.packetID, session: &session.state)))
        case .pubRec where ack.reasonCode.isFailure:
            // §4.3.3: a PUBREC with a failure code ends the QoS 2 flow.
            session.state.complete(ack.packetID)
            drainQueue()
        case .pubAck, .pubRec, .pubComp:
            switch session.state.acknowledged(ack.kind, packetID: ack.packetID) {
            case .completed: drainQueue()
            case .sendPubRel: write(.ack(MQTTAckPacket(.pubRel, packetID: ack.packetID)))
            case .unknown:
                // [MQTT-4.3.3-?] a PUBREC for an unknown identifier is answered with PUBREL 0x92 (5.0).
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
        guard let version, let session, let channelContext = self.context, !machine.isClosed else { return .skipped }
        let qos = min(message.headers.qos ?? 0, subscription.options.maxQoS)
        let retain = session.retainFlag(message, subscription)
        let maxSize = outboundMaximumPacketSize
        let perConnectionForm = version == .v5 && (subscription.options.identifier != nil || outboundAliases.isEnabled)
        if qos == 0 && !perConnectionForm {
            guard writable else { return .dropped }
            // One encoding per version and retain flag per message per loop, shared by every subscriber.
            let clock = bus.clock
            let bytes = context.encoded(form: Self.sharedForm(version, retain: retain)) { message in
                var packet = MQTTMessageMapping.publishPacket(
                    message, qos: .atMostOnce, retain: retain, subscriptionIdentifier: nil)
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
            writePendingControl()
            channelContext.write(NIOAny(bytes), promise: nil)
            needsFlush = true
            pendingStatistics.messagesSent += 1
            pendingStatistics.bytesSent += bytes.readableBytes
            return .delivered(bytes: bytes.readableBytes)
        }
        let packet = MQTTMessageMapping.publishPacket(
            message, qos: MQTTQoS(rawValue: qos)!, retain: retain,
            subscriptionIdentifier: version == .v5 ? subscription.options.identifier : nil)
        let window = outboundWindow
        switch session.state.offer(packet, expiresAt: message.headers.expiresAt, window: window, canSend: writable) {
        case .send(let packet):
            return send(packet, expiresAt: message.headers.expiresAt)
        case .queued:
            return .skipped
        case .dropped:
            return .dropped
        }
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
        writePendingControl()
        context.write(NIOAny(buffer), promise: nil)
        needsFlush = true
        pendingStatistics.messagesSent += 1
        pendingStatistics.bytesSent += size
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
