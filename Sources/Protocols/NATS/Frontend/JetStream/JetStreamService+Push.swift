import BusCore
import BusRuntime
import NATSWire
import NIOConcurrencyHelpers
import NIOCore

extension JetStreamService {
    // MARK: - Push consumers

    /// How a NATS connection learns a message's subject when it is delivered on another one (a push
    /// consumer's deliver subject): `MessageHeaders.native` with this protocol name carries the subject.
    package static let subjectOverride = "nats.subject"
    /// How a push consumer's status message (`100 Idle Heartbeat`, `100 FlowControl Request`) crosses the
    /// bus to the connection subscribed to its deliver subject: `MessageHeaders.native` with this protocol
    /// name carries the status line (`100 Idle Heartbeat`).
    package static let statusOverride = "nats.status"
    /// Most messages one push round sends before yielding the loop.
    static let pushBatch = 256
    /// The first wait for a push consumer's deliver subject to gain a subscriber (then doubled up to
    /// `pollSlice`): 1 ms, so a watcher that subscribes as it creates the consumer sees no delay.
    static let firstSubscriberWait: Int64 = 1_000_000

    /// Starts delivering a push consumer's messages to its deliver subject, on one of the bus's loops.
    func startPushing(_ consumer: JetStreamConsumer) {
        guard let subject = consumer.config.deliverSubject,
            let name = try? NATSSubjectMapping.topicName(forSubject: subject)
        else { return }
        let topic = Topic(trusted: name)
        let shard = pushShard(for: consumer)
        shard.eventLoop.execute { self.push(consumer, to: topic, shard: shard) }
    }

    /// The loop a push consumer's deliveries are published from (and its info answered on).
    func pushShard(for consumer: JetStreamConsumer) -> LoopShard {
        let shards = bus.shards
        return shards[Int(UInt(bitPattern: consumer.name.hashValue) % UInt(shards.count))]
    }

    /// One round: while someone subscribes to the deliver subject (a queue group counts once), what the
    /// consumer has is published there, each with its `$JS.ACK` reply and its stored subject; then it waits
    /// for a new record, at most one slice (ack-wait redeliveries, NAKs, a subscriber arriving).
    /// `unroutedWait` is how long it next waits for the deliver subject's first subscriber: it starts at
    /// `firstSubscriberWait` and doubles up to a slice, because a client usually subscribes just before
    /// (or just after) it creates the consumer, and its SUB may reach this loop a moment later; a slice
    /// at once would hold its first message (a KV watcher's initial values) back that long.
    func push(
        _ consumer: JetStreamConsumer, to topic: Topic, shard: LoopShard,
        unroutedWait: Int64 = JetStreamService.firstSubscriberWait
    ) {
        guard self.consumer(stream: consumer.stream, name: consumer.name) === consumer else { return }
        // Several instances share the store: only the instance holding a durable consumer pushes it; one
        // with a subscriber for it claims it, and tries again while another instance holds it.
        if !isServedHere(consumer) {
            if shard.isRouted(topic) {
                whenServedHere(consumer, on: shard.eventLoop, timeout: .zero) { [self] served in
                    let wait = served ? TimeAmount.zero : Self.pushClaimRetry
                    shard.eventLoop.scheduleTask(in: wait) { self.push(consumer, to: topic, shard: shard) }
                }
            } else {
                shard.eventLoop.scheduleTask(in: .nanoseconds(Self.pollSlice)) {
                    self.push(consumer, to: topic, shard: shard)
                }
            }
            return
        }
        let now = bus.clock()
        let stalled = consumer.withState { $0.push.isStalled }
        // nats-server's `push_bound` in the consumer's info (nats.py will not bind a second subscriber).
        consumer.isPushBound = shard.isRouted(topic)
        guard shard.isRouted(topic) && !stalled else {
            return pushed([], consumer, to: topic, shard: shard, now: now, stalled: stalled, unroutedWait: unroutedWait)
        }
        // At once from the stream's memory tail; records older than it come from the store first, in a
        // round of their own, so what a round takes is published on the loop turn that takes it.
        take(from: consumer, limit: Self.pushBatch, now: now, on: shard.eventLoop, deliverBeforeStoreReads: true)
            .whenSuccess { taken in
                self.pushed(
                    taken.deliveries, consumer, to: topic, shard: shard, now: now, stalled: stalled,
                    unroutedWait: unroutedWait, more: taken.endedBeforeStoreRead)
            }
    }

    /// The rest of a round: publishes `deliveries` (none when nobody subscribes or the consumer is
    /// stalled), heartbeats, then schedules the next round (at once when it is full or `more` waits).
    private func pushed(
        _ deliveries: [JetStreamConsumerState.Delivery], _ consumer: JetStreamConsumer, to topic: Topic,
        shard: LoopShard, now: UInt64, stalled: Bool, unroutedWait: Int64, more: Bool = false
    ) {
        if !deliveries.isEmpty {
            let headersOnly = consumer.config.headersOnly
            var bytes = 0
            let (cursor, filters) = consumer.withState { ($0.cursor, $0.filters) }
            let unseen =
                unseenCount(consumer, cursor: cursor, filters: filters)
                + consumer.withState { $0.lastPerSubject.count }
            for (index, delivery) in deliveries.enumerated() {
                let outbound = message(delivery, consumer: consumer, pending: unseen + deliveries.count - index - 1)
                var headers = delivery.record.record.message.headers
                headers.replyTo = outbound.replyTo.flatMap { try? NATSSubjectMapping.topicName(forSubject: $0) }
                headers.native = NativeProperties(
                    protocolName: Self.subjectOverride, bytes: ByteBuffer(string: outbound.subject))
                var payload = outbound.payload
                if headersOnly {
                    // nats-server's `headers_only`: the size instead of the payload.
                    headers.userProperties.append(
                        UserProperty(name: "Nats-Msg-Size", value: String(payload.readableBytes)))
                    payload = ByteBuffer()
                }
                bytes += outbound.payload.readableBytes
                shard.publish(BusMessage(topic: topic, payload: payload, headers: headers, timestamp: now))
            }
            let last = deliveries[deliveries.count - 1]
            let prefix = "$JS.FC.\(consumer.stream).\(consumer.name)"
            let request = consumer.withState {
                $0.push.delivered(
                    bytes: bytes, lastConsumerSequence: last.consumerSequence,
                    lastStreamSequence: last.streamSequence, now: now, prefix: prefix)
            }
            if let request {
                publishStatus(
                    "100 FlowControl Request", fields: [], replyTo: request, to: topic, shard: shard, now: now)
            }
            shard.flushWritten()
        }
        let sent = deliveries.count
        if let heartbeat = consumer.withState({ $0.push.tick(now: now) }), shard.isRouted(topic) {
            var fields = [
                UserProperty(name: "Nats-Last-Consumer", value: String(heartbeat.lastConsumerSequence)),
                UserProperty(name: "Nats-Last-Stream", value: String(heartbeat.lastStreamSequence)),
            ]
            if let stalledOn = heartbeat.stalledOn {
                fields.append(UserProperty(name: "Nats-Consumer-Stalled", value: stalledOn))
            }
            publishStatus("100 Idle Heartbeat", fields: fields, replyTo: nil, to: topic, shard: shard, now: now)
            shard.flushWritten()
        }
        if sent == Self.pushBatch || more {
            shard.eventLoop.execute { self.push(consumer, to: topic, shard: shard) }
            return
        }
        let (cursor, pendingCount, room) = consumer.withState {
            ($0.cursor, $0.pending.count, $0.config.maxAckPending)
        }
        let slice = TimeAmount.nanoseconds(Self.pollSlice)
        if sent == 0 && !shard.isRouted(topic) {
            let next = min(unroutedWait * 2, Self.pollSlice)
            shard.eventLoop.scheduleTask(in: .nanoseconds(unroutedWait)) {
                self.push(consumer, to: topic, shard: shard, unroutedWait: next)
            }
            return
        }
        if room >= 0 && pendingCount >= room || stalled {
            shard.eventLoop.scheduleTask(in: slice) { self.push(consumer, to: topic, shard: shard) }
            return
        }
        if let due = consumer.withState({ $0.replayDue }) {
            // Replaying at the original pace: the next record is there and goes when its gap has passed.
            let wait = min(Self.pollSlice, due > now ? Int64(due - now) : 0)
            shard.eventLoop.scheduleTask(in: .nanoseconds(wait)) { self.push(consumer, to: topic, shard: shard) }
            return
        }
        bus.streams.waitForRecords(consumer.stream, partition: 0, from: cursor, timeout: slice, on: shard.eventLoop)
            .whenComplete { result in
                guard case .success = result else { return }  // the stream went away
                self.push(consumer, to: topic, shard: shard)
            }
    }

    /// A status message (`100 Idle Heartbeat` …) on the deliver subject, over the bus.
    private func publishStatus(
        _ status: String, fields: [UserProperty], replyTo: String?, to topic: Topic, shard: LoopShard, now: UInt64
    ) {
        var headers = MessageHeaders()
        headers.userProperties = fields
        headers.replyTo = replyTo.flatMap { try? NATSSubjectMapping.topicName(forSubject: $0) }
        headers.native = NativeProperties(protocolName: Self.statusOverride, bytes: ByteBuffer(string: status))
        shard.publish(BusMessage(topic: topic, payload: ByteBuffer(), headers: headers, timestamp: now))
    }

    /// A publish on `$JS.FC.<stream>.<consumer>.<n>` (`tokens` after `$JS.FC.`): a push consumer's client
    /// answers its flow-control request, and delivery resumes.
    package func flowControlAnswered(_ tokens: [Substring], subject: String) {
        guard tokens.count == 3, let consumer = consumer(stream: String(tokens[0]), name: String(tokens[1])) else {
            return
        }
        consumer.withState { _ = $0.push.flowControlAnswered(subject) }
    }
}
