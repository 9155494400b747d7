/// One client's session as MQTT defines it (§4.1): what outlives a network connection when the session
/// is persistent. A pure value: the frontend keeps it in a session object, storage can persist it.
/// Outbound QoS 1/2 messages wait in `queue` until the client's Receive Maximum lets them into `inflight`.
package struct MQTTSessionState: Sendable {
    /// An outbound QoS 1/2 message sent and not yet completed.
    package struct Inflight: Sendable, Hashable {
        package var packet: MQTTPublishPacket
        /// Absolute expiry (ns since the epoch), when the message has one.
        package var expiresAt: UInt64?
        /// PUBREC received, PUBREL sent: only PUBCOMP is awaited (QoS 2).
        package var released: Bool
        /// The message's number in the durable session message log (0: not stored).
        package var sequence: UInt64 = 0
    }

    /// An outbound message waiting for room in the inflight window.
    package struct Queued: Sendable, Hashable {
        package var packet: MQTTPublishPacket
        package var expiresAt: UInt64?
        package var sequence: UInt64
        package init(packet: MQTTPublishPacket, expiresAt: UInt64?, sequence: UInt64 = 0) {
            self.packet = packet
            self.expiresAt = expiresAt
            self.sequence = sequence
        }
    }

    /// A subscription as the client asked for it.
    package struct Subscription: Sendable, Hashable {
        package var options: MQTTSubscription
        package var identifier: Int?
        package init(options: MQTTSubscription, identifier: Int?) {
            self.options = options
            self.identifier = identifier
        }
    }

    /// Subscriptions by filter text (a new subscription to the same filter replaces it, [MQTT-3.8.4-3]).
    package var subscriptions: [String: Subscription] = [:]
    /// Outbound QoS 1/2 messages in flight by packet identifier, and their order of first sending.
    package private(set) var inflight: [UInt16: Inflight] = [:]
    private var inflightOrder: [UInt16] = []
    package private(set) var queue: [Queued] = []
    private var queueHead = 0
    /// Inbound QoS 2 packet identifiers whose PUBLISH was received and PUBREL not yet ([MQTT-4.3.3-10]).
    package var inboundQoS2: Set<UInt16> = []
    private var lastPacketID: UInt16 = 0
    /// Most queued messages while the window is full or the client is offline.
    package let maxQueued: Int

    package init(maxQueued: Int) {
        self.maxQueued = maxQueued
    }

    package var queuedCount: Int { queue.count - queueHead }

    /// What to do with an outbound message.
    package enum OutboundDecision: Sendable, Hashable {
        /// Send this packet now (QoS > 0: it carries a fresh packet identifier and is now inflight).
        case send(MQTTPublishPacket)
        /// Kept until the window opens.
        case queued
        /// The queue is full: the message is dropped for this session.
        case dropped
    }

    /// Offers a message for sending. `window` is the client's Receive Maximum; `canSend` is false while
    /// the client is offline or its socket is not writable (then QoS 0 is dropped and QoS 1/2 queued).
    package mutating func offer(
        _ packet: MQTTPublishPacket, expiresAt: UInt64?, window: Int, canSend: Bool, sequence: UInt64 = 0
    ) -> OutboundDecision {
        if packet.qos == .atMostOnce { return canSend ? .send(packet) : .dropped }
        // [MQTT-4.9.0-2] no more than Receive Maximum unacknowledged QoS 1/2 PUBLISH packets.
        if canSend && inflight.count < window && queuedCount == 0 {
            return .send(admit(packet, expiresAt: expiresAt, sequence: sequence))
        }
        guard queuedCount < maxQueued else { return .dropped }
        queue.append(Queued(packet: packet, expiresAt: expiresAt, sequence: sequence))
        return .queued
    }

    private mutating func admit(_ packet: MQTTPublishPacket, expiresAt: UInt64?, sequence: UInt64) -> MQTTPublishPacket
    {
        var packet = packet
        packet.packetID = nextPacketID()
        packet.duplicate = false
        inflight[packet.packetID!] = Inflight(packet: packet, expiresAt: expiresAt, released: false, sequence: sequence)
        inflightOrder.append(packet.packetID!)
        return packet
    }

    /// Puts back a message that was in flight when the server stopped (from the store): it is resent
    /// with its original packet identifier and DUP, or as PUBREL when `released` ([MQTT-4.4.0-1]).
    package mutating func restoreInflight(
        _ packet: MQTTPublishPacket, expiresAt: UInt64?, released: Bool, sequence: UInt64
    ) {
        guard let id = packet.packetID, inflight[id] == nil else { return }
        inflight[id] = Inflight(packet: packet, expiresAt: expiresAt, released: released, sequence: sequence)
        inflightOrder.append(id)
        lastPacketID = max(lastPacketID, id)
    }

    /// Puts back a stored message that was not sent yet.
    package mutating func restoreQueued(_ packet: MQTTPublishPacket, expiresAt: UInt64?, sequence: UInt64) {
        queue.append(Queued(packet: packet, expiresAt: expiresAt, sequence: sequence))
    }

    /// The durable sequence of an inflight message (0 when it has none or there is no such message).
    package func sequence(ofInflight packetID: UInt16) -> UInt64 {
        inflight[packetID]?.sequence ?? 0
    }

    /// The lowest durable sequence this session still owes its client (nil: none outstanding).
    package var lowestSequence: UInt64? {
        var lowest: UInt64?
        for entry in inflight.values where entry.sequence > 0 { lowest = min(lowest ?? .max, entry.sequence) }
        for entry in queue[queueHead...] where entry.sequence > 0 { lowest = min(lowest ?? .max, entry.sequence) }
        return lowest
    }

    /// A packet identifier not in use by an inflight message ([MQTT-2.2.1-3]).
    private mutating func nextPacketID() -> UInt16 {
        repeat {
            lastPacketID = lastPacketID == UInt16.max ? 1 : lastPacketID + 1
        } while inflight[lastPacketID] != nil
        return lastPacketID
    }

    /// Moves queued messages into the window while it has room; expired ones are discarded
    /// ([MQTT-3.3.2-5]). Returns them with their expiry, for the caller to adjust and send.
    package mutating func drain(window: Int, now: UInt64) -> [(packet: MQTTPublishPacket, expiresAt: UInt64?)] {
        var out: [(packet: MQTTPublishPacket, expiresAt: UInt64?)] = []
        while inflight.count < window && queueHead < queue.count {
            let next = queue[queueHead]
            queueHead += 1
            if let expiry = next.expiresAt, expiry <= now { continue }
            out.append((admit(next.packet, expiresAt: next.expiresAt, sequence: next.sequence), next.expiresAt))
        }
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: queue.count < 64)
            queueHead = 0
        } else if queueHead > 1024 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        return out
    }

    /// The result of an acknowledgement from the client.
    package enum AckOutcome: Sendable, Hashable {
        /// The message is complete (PUBACK, PUBCOMP): the window has one more slot.
        case completed
        /// PUBREC: answer with PUBREL.
        case sendPubRel
        /// No such message inflight: PUBREL with 0x92 for a PUBREC, otherwise nothing to do.
        case unknown
    }

    /// PUBACK / PUBREC / PUBCOMP for an outbound message ([MQTT-4.3.2-3], [MQTT-4.3.3-3], [MQTT-4.3.3-5]).
    package mutating func acknowledged(_ kind: MQTTAckPacket.Kind, packetID: UInt16) -> AckOutcome {
        guard var entry = inflight[packetID] else { return .unknown }
        switch kind {
        case .pubAck where entry.packet.qos == .atLeastOnce, .pubComp where entry.released:
            complete(packetID)
            return .completed
        case .pubRec where entry.packet.qos == .exactlyOnce:
            // [MQTT-4.3.3-4] a PUBREC is answered with PUBREL (the handler ends the flow on a failure reason
            // instead, [MQTT-4.4.0-2]).
            entry.released = true
            inflight[packetID] = entry
            return .sendPubRel
        default:
            return .unknown
        }
    }

    /// Ends an inflight message early (a PUBREC carrying a failure reason code).
    package mutating func complete(_ packetID: UInt16) {
        inflight[packetID] = nil
        if let index = inflightOrder.firstIndex(of: packetID) { inflightOrder.remove(at: index) }
    }

    /// What to resend when a session resumes, in original order ([MQTT-4.4.0-1]): unacknowledged
    /// PUBLISH packets with DUP set, and PUBREL for those already PUBREC'd.
    package enum Resend: Sendable, Hashable {
        case publish(MQTTPublishPacket, expiresAt: UInt64?)
        case pubRel(UInt16)
    }

    package mutating func resendOnResume() -> [Resend] {
        inflightOrder.compactMap { id in
            guard var entry = inflight[id] else { return nil }
            if entry.released { return .pubRel(id) }
            entry.packet.duplicate = true  // [MQTT-3.3.1-1]
            inflight[id] = entry
            return .publish(entry.packet, expiresAt: entry.expiresAt)
        }
    }
}
