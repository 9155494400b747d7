package import BusCore
package import NIOCore

/// Plain publications for another loop, packed: the publisher's loop copies each small payload into one
/// buffer per run and makes no message object; the receiving loop makes the messages, so their
/// allocations and reference counts stay on the core that delivers them. (A message made on one loop and
/// released on another moves its reference count's cache line between the cores once per message: that,
/// and the allocation, were most of a cross-loop publish's cost on the publisher's loop, the one that
/// bounds a 1 → 1 stream when publisher and subscriber are on different loops.)
/// Confined to the shard's loop, as everything in `LoopShard`.
extension LoopShard {
    /// Publishes a plain publication — no headers, no reply, no position: what a NATS `PUB` or an MQTT
    /// QoS 0 `PUBLISH` usually is — whose payload is `length` bytes of `buffer` at `index`. When every
    /// recipient is on this loop and takes plain publications it joins the local run, written to them when
    /// the read ends (`flushWritten`) or anything else reaches the shard (`closeLocalRun`); when
    /// every recipient is on one other loop the payload is copied into that loop's packed run; otherwise
    /// the message is made and published as `publish(_:whenDeferred:)` does.
    @inline(__always)
    package func publishPlain(
        topic: Topic, payloadIn buffer: ByteBuffer, at index: Int, length: Int, publisherID: String?,
        timestamp: UInt64
    ) {
        assert(eventLoop.inEventLoop)
        // The common case — the topic of the last publish, its run still open — without a reference count:
        // an open run means this tick's hand-off is scheduled and marked for the other loops already.
        if generation == cacheGeneration, topic.isIdentical(to: lastPlanTopic), lastPlanPackedTarget >= 0,
            length <= Self.packedPayloadLimit, engine == nil,
            let run = openPackedReferences[lastPlanPackedTarget],
            run._withUnsafeGuaranteedRef({
                $0.planIdentifier == lastPlanIdentifier && $0.topic.isIdentical(to: topic)
                    && $0.publisherID == publisherID
            })
        {
            run._withUnsafeGuaranteedRef { $0.append(buffer, at: index, length: length, timestamp: timestamp) }
            return
        }
        // Every recipient here and taking plain publications: held in the local run, written to each
        // subscriber when the read ends (LoopShard+LocalRun.swift), no message.
        if generation == cacheGeneration, topic.isIdentical(to: lastPlanTopic), engine == nil,
            length <= Self.packedPayloadLimit, let reference = lastPlanReference,
            reference._withUnsafeGuaranteedRef({ $0.localTakesPlain })
        {
            if localRunIdentifier != lastPlanIdentifier || !localRunTopic.isIdentical(to: topic)
                || localRunPublisherID != publisherID
            {
                openLocalRun(reference.takeUnretainedValue(), topic: topic, publisherID: publisherID)
            }
            return appendToLocalRun(buffer, at: index, length: length, timestamp: timestamp)
        }
        closeLocalRun()
        let plan = self.plan(for: topic)
        if plan.localTakesPlain, engine == nil {
            guard length <= Self.packedPayloadLimit else {
                // A large payload is written from the read buffer at once: copying it would cost more.
                return deliverPlainHere(topic, buffer, index, length, publisherID, timestamp, to: plan.local)
            }
            openLocalRun(plan, topic: topic, publisherID: publisherID)
            return appendToLocalRun(buffer, at: index, length: length, timestamp: timestamp)
        }
        let target = plan.packedTarget
        guard target >= 0, engine == nil, length <= Self.packedPayloadLimit else {
            publish(
                BusMessage(
                    topic: topic, payload: buffer.getSlice(at: index, length: length)!, publisherID: publisherID,
                    timestamp: timestamp))
            return
        }
        if let packed = openPacked[target], packed.planIdentifier == ObjectIdentifier(plan),
            packed.topic.isIdentical(to: topic), packed.publisherID == publisherID
        {
            packed.append(buffer, at: index, length: length, timestamp: timestamp)
        } else {
            closeRun(target)
            let packed = PackedPublications(plan: plan, topic: topic, publisherID: publisherID)
            packed.append(buffer, at: index, length: length, timestamp: timestamp)
            openPacked[target] = packed
            openPackedReferences[target] = Unmanaged.passUnretained(packed)
        }
        hasForOtherLoops = true
        scheduleHandOff()
    }

    /// Delivers the publications of a packed run, in their order: from the buffer when every subscription
    /// takes plain publications, else as the messages `publish` would have made.
    func receive(_ packed: PackedPublications, now: UInt64) {
        let subscriptions = packed.subscriptions
        messagesSinceFlush &+= packed.count
        if packed.takesPlainPublications {
            return receivePlain(packed, now: now)
        }
        var reader = packed.payloads
        while let timestamp = reader.readInteger(endianness: .host, as: UInt64.self),
            let length = reader.readInteger(endianness: .host, as: UInt32.self),
            let payload = reader.readSlice(length: Int(length))
        {
            let message = BusMessage(
                topic: packed.topic, payload: payload, publisherID: packed.publisherID, timestamp: timestamp)
            var context = DeliveryContext(message: message)
            stats.recordLatency(now: now, publishedAt: timestamp)
            subscriptions.withUnsafeBufferPointer { subscriptions in
                for subscription in subscriptions { deliver(subscription, 0, &context) }
            }
        }
    }

    private func receivePlain(_ packed: PackedPublications, now: UInt64) {
        let topic = packed.topic
        let publisherID = packed.publisherID
        packed.subscriptions.withUnsafeBufferPointer { subscriptions in
            packed.payloads.withUnsafeReadableBytes { bytes in
                var at = 0
                while at + 12 <= bytes.count {
                    let timestamp = bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)
                    let length = Int(bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self))
                    let payload = UnsafeRawBufferPointer(rebasing: bytes[(at + 12)..<(at + 12 + length)])
                    at += 12 + length
                    stats.recordLatency(now: now, publishedAt: timestamp)
                    deliverPlain(topic, payload, publisherID, timestamp, to: subscriptions)
                }
            }
        }
    }

    /// Writes a plain publication from the publisher's read buffer to this loop's subscriptions, written
    /// not flushed, as `route` does (the hand-off, or the frontend's `flushWritten`, flushes).
    @inline(__always)
    private func deliverPlainHere(
        _ topic: Topic, _ buffer: ByteBuffer, _ index: Int, _ length: Int, _ publisherID: String?,
        _ timestamp: UInt64, to subscriptions: [BusSubscription]
    ) {
        messagesSinceFlush &+= 1
        let start = index - buffer.readerIndex
        buffer.withUnsafeReadableBytes { bytes in
            let payload = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
            deliverPlain(topic, payload, publisherID, timestamp, to: subscriptions)
        }
        scheduleHandOff()
    }

    /// Writes one plain publication to subscriptions on this loop that all take plain publications.
    @inline(__always)
    private func deliverPlain(
        _ topic: Topic, _ payload: UnsafeRawBufferPointer, _ publisherID: String?, _ timestamp: UInt64,
        to subscriptions: UnsafeBufferPointer<BusSubscription>
    ) {
        for subscription in subscriptions {
            // `deliver`'s checks that need no message; the rest ruled the subscription out.
            guard subscription.isActive else { continue }
            if subscription.options.noLocal, publisherID == subscription.subscriberID { continue }
            if let acl = subscription.options.readACL, !acl.permitsReading(topic) { continue }
            let subscriber = subscription.subscriber
            let outcome = subscriber.deliverPlain(
                topic: topic, payload: payload, publisherID: publisherID, timestamp: timestamp, for: subscription)
            delivered(outcome, subscriber, subscription)
        }
    }

    @inline(__always)
    private func deliverPlain(
        _ topic: Topic, _ payload: UnsafeRawBufferPointer, _ publisherID: String?, _ timestamp: UInt64,
        to subscriptions: [BusSubscription]
    ) {
        subscriptions.withUnsafeBufferPointer { deliverPlain(topic, payload, publisherID, timestamp, to: $0) }
    }

    /// Payloads up to this size are copied into a packed run; a larger one travels as a message sharing
    /// its read buffer (copying it would cost more than the reference count saves).
    static let packedPayloadLimit = 1_024
}

/// Consecutive plain publications of one publisher to one topic, for one other loop's subscribers: each a
/// timestamp (8 bytes), a length (4 bytes, both in the host's byte order) and the payload, in one buffer.
/// Made and filled on the publisher's loop, then handed over whole; read on the receiving loop only.
final class PackedPublications: @unchecked Sendable {
    /// The plan that routed them (it keeps `subscriptions`), and its identity, which names the run.
    let plan: LoopShard.MatchPlan
    let planIdentifier: ObjectIdentifier
    let subscriptions: [BusSubscription]
    /// Whether every one of them takes plain publications (then no message is made on either loop).
    let takesPlainPublications: Bool
    let topic: Topic
    let publisherID: String?
    private(set) var payloads: ByteBuffer
    private(set) var count = 0
    /// The payloads' bytes with their 12-byte headers (what the hand-over's bound counts).
    var byteCount: Int { payloads.readableBytes }

    init(plan: LoopShard.MatchPlan, topic: Topic, publisherID: String?) {
        self.plan = plan
        self.planIdentifier = ObjectIdentifier(plan)
        self.subscriptions = plan.remote[0].subscriptions
        self.takesPlainPublications = subscriptions.allSatisfy(\.takesPlainPublications)
        self.topic = topic
        self.publisherID = publisherID
        self.payloads = ByteBufferAllocator().buffer(capacity: Self.initialCapacity)
    }

    /// Appends one publication: its header and payload in one write (one capacity check, one copy).
    @inline(__always)
    func append(_ buffer: ByteBuffer, at index: Int, length: Int, timestamp: UInt64) {
        Self.write(buffer, at: index, length: length, timestamp: timestamp, to: &payloads)
        count += 1
    }

    /// One packed publication onto `payloads`: the 8-byte timestamp, the 4-byte length, then the
    /// `length` bytes of `buffer` from absolute `index` (the layout `PackedPublications` and a loop's local
    /// run share).
    @inline(__always)
    static func write(
        _ buffer: ByteBuffer, at index: Int, length: Int, timestamp: UInt64, to payloads: inout ByteBuffer
    ) {
        let start = index - buffer.readerIndex
        buffer.withUnsafeReadableBytes { source in
            _ = payloads.writeWithUnsafeMutableBytes(minimumWritableBytes: 12 + length) { target in
                target.storeBytes(of: timestamp, toByteOffset: 0, as: UInt64.self)
                target.storeBytes(of: UInt32(length), toByteOffset: 8, as: UInt32.self)
                UnsafeMutableRawBufferPointer(rebasing: target[12..<(12 + length)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start..<(start + length)]))
                return 12 + length
            }
        }
    }

    /// Room for a few dozen small messages before the buffer first grows.
    static let initialCapacity = 1_024
}
