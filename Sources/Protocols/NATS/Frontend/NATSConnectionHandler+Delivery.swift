import BusCore
import BusRuntime
import FrontendKit
import NATSWire
import NIOCore

/// Deliveries (`BusSubscriber`): `MSG`/`HMSG` written into the outbound buffer, flushed once per batch.
/// Confined to the handler's loop, as the handler.
extension NATSConnectionHandler {
    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard message.isPublication else { return .skipped }
        var outcome = DeliveryOutcome.skipped
        guard
            let entry = deliveryEntry(
                subscription, topic: message.topic, bytes: message.payload.readableBytes,
                publishedAt: message.timestamp, from: message.publisherID, outcome: &outcome)
        else { return outcome }
        let headers = message.headers
        let before = out.writerIndex
        if headers.isEmpty {
            // No reply subject, no header block: the common case, without reading either.
            NATSEncoder.message(&out, prefix: entry.messagePrefix, replyTo: nil, payload: message.payload)
        } else {
            writeMessage(message, headers: headers, entry: entry, context: &context)
        }
        return delivered(entry, payloadBytes: message.payload.readableBytes, from: before)
    }

    var takesPlainPublications: Bool { true }

    /// A plain publication of a packed run: a `MSG` without reply, written from the run's bytes.
    func deliverPlain(
        topic: Topic, payload: UnsafeRawBufferPointer, publisherID: String?, timestamp: UInt64,
        for subscription: BusSubscription
    ) -> DeliveryOutcome {
        var outcome = DeliveryOutcome.skipped
        guard
            let entry = deliveryEntry(
                subscription, topic: topic, bytes: payload.count, publishedAt: timestamp, from: publisherID,
                outcome: &outcome)
        else { return outcome }
        let before = out.writerIndex
        NATSEncoder.message(&out, prefix: entry.messagePrefix, payload: payload)
        return delivered(entry, payloadBytes: payload.count, from: before)
    }

    /// The subscription's entry, its `MSG` prefix made for `topic`, when a delivery of `bytes` is to be
    /// written; nil when it is not, with `outcome` saying why.
    @inline(__always)
    private func deliveryEntry(
        _ subscription: BusSubscription, topic: Topic, bytes: Int, publishedAt: UInt64, from publisherID: String?,
        outcome: inout DeliveryOutcome
    ) -> NATSSubscription? {
        guard !machine.isClosed else { return nil }
        let slot = subscription.localIndex
        guard slot < slots.count, let entry = slots[slot], entry.busSubscription === subscription else {
            return nil
        }
        if !writable || out.readableBytes >= services.softPendingLimit {
            // Behind (over 3/4 of max_pending, where nats-server opens its stall gate): the publishers
            // feeding it pause until it drains; past the write deadline without reading, or past its slack
            // (what its publishers read before their pause landed), it is a slow consumer.
            let admission = behind.admit(
                bytes: bytes, publishedAt: publishedAt, from: publisherID, to: info.id, now: bus.clock(),
                bounds: services.congestionBounds, registry: services.shared.connections)
            if admission == .refuse {
                run(machine.outboundOverflowed())
                outcome = .dropped
                return nil
            }
        }
        if !topic.isIdentical(to: entry.messagePrefixTopic) && topic != entry.messagePrefixTopic {
            if topic != lastDeliveredTopic {
                lastDeliveredTopic = topic
                lastDeliveredSubject = ByteBuffer(string: NATSSubjectMapping.subject(forTopic: topic.name))
            }
            entry.messagePrefixTopic = topic
            entry.messagePrefix.clear()
            NATSEncoder.messagePrefix(&entry.messagePrefix, subject: lastDeliveredSubject, sid: entry.sidBytes)
        }
        return entry
    }

    /// Counts a delivery written from `before` on.
    @inline(__always)
    private func delivered(_ entry: NATSSubscription, payloadBytes: Int, from before: Int) -> DeliveryOutcome {
        entry.delivered += 1
        traffic.outMessages += 1
        traffic.outBytes += payloadBytes
        // A field read per message; the state machine is asked only when an UNSUB's limit is reached.
        if let maximum = entry.maxMessages, entry.delivered >= maximum {
            run(machine.deliveryLimitReached(sid: entry.sid))
        }
        return .delivered(bytes: out.writerIndex - before)
    }

    /// `MSG` with a reply subject, or `HMSG` when the client takes headers and the message has some.
    private func writeMessage(
        _ message: BusMessage, headers: MessageHeaders, entry: NATSSubscription, context: inout DeliveryContext
    ) {
        let replyTo = headers.replyTo.map { ByteBuffer(string: NATSSubjectMapping.subject(forTopic: $0)) }
        if let native = headers.native, native.protocolName == JetStreamService.statusOverride {
            // A push consumer's heartbeat or flow-control request: a status on the deliver subject.
            return writeJetStreamStatus(message, status: String(buffer: native.bytes), replyTo: replyTo, entry: entry)
        }
        if let native = headers.native, native.protocolName == JetStreamService.subjectOverride {
            // A JetStream push delivery: written with the stored subject, not the deliver subject.
            return writeJetStreamPush(message, subject: native.bytes, replyTo: replyTo, entry: entry)
        }
        // HMSG only to a client whose CONNECT said `headers: true` (nats-server does the same).
        if machine.session.headers, headers.hasContentTypeOrProperties {
            let block = context.encoded(form: Self.headerWireForm) { message in
                var block = ByteBuffer()
                NATSHeaderBlock(message.headers)?.write(to: &block)
                return block
            }
            NATSEncoder.headerMessage(
                &out, subject: lastDeliveredSubject, sid: entry.sidBytes, replyTo: replyTo, headers: block,
                payload: message.payload)
        } else {
            NATSEncoder.message(&out, prefix: entry.messagePrefix, replyTo: replyTo, payload: message.payload)
        }
    }

    func flushDeliveries() { flushOut() }
}
