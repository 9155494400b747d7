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
    /// Most messages one push round sends before yielding the loop.
    static let pushBatch = 256

    /// Starts delivering a push consumer's messages to its deliver subject, on one of the bus's loops.
    func startPushing(_ consumer: JetStreamConsumer) {
        guard let subject = consumer.config.deliverSubject,
            let name = try? NATSSubjectMapping.topicName(forSubject: subject)
        else { return }
        let topic = Topic(trusted: name)
        let shards = bus.shards
        let shard = shards[Int(UInt(bitPattern: consumer.name.hashValue) % UInt(shards.count))]
        shard.eventLoop.execute { self.push(consumer, to: topic, shard: shard) }
    }

    /// One round: while someone subscribes to the deliver subject (a queue group counts once), what the
    /// consumer has is published there, each with its `$JS.ACK` reply and its stored subject; then it waits
    /// for a new record, at most one slice (ack-wait redeliveries, NAKs, a subscriber arriving).
    func push(_ consumer: JetStreamConsumer, to topic: Topic, shard: LoopShard) {
        guard self.consumer(stream: consumer.stream, name: consumer.name) === consumer else { return }
        let now = bus.clock()
        var sent = 0
        if shard.isRouted(topic) {
            let deliveries = take(from: consumer, limit: Self.pushBatch, now: now)
            if !deliveries.isEmpty {
                let (cursor, filters) = consumer.withState { ($0.cursor, $0.filters) }
                let unseen = unseenCount(consumer, cursor: cursor, filters: filters)
                for (index, delivery) in deliveries.enumerated() {
                    let outbound = message(delivery, consumer: consumer, pending: unseen + deliveries.count - index - 1)
                    var headers = delivery.record.record.message.headers
                    headers.replyTo = outbound.replyTo.flatMap { try? NATSSubjectMapping.topicName(forSubject: $0) }
                    headers.native = NativeProperties(
                        protocolName: Self.subjectOverride, bytes: ByteBuffer(string: outbound.subject))
                    shard.publish(BusMessage(topic: topic, payload: outbound.payload, headers: headers, timestamp: now))
                }
                shard.flushWritten()
            }
            sent = deliveries.count
        }
        if sent == Self.pushBatch {
            shard.eventLoop.execute { self.push(consumer, to: topic, shard: shard) }
            return
        }
        let (cursor, pendingCount, room) = consumer.withState {
            ($0.cursor, $0.pending.count, $0.config.maxAckPending)
        }
        let slice = TimeAmount.nanoseconds(Self.pollSlice)
        if sent == 0 && !shard.isRouted(topic) || room >= 0 && pendingCount >= room {
            shard.eventLoop.scheduleTask(in: slice) { self.push(consumer, to: topic, shard: shard) }
            return
        }
        bus.streams.waitForRecords(consumer.stream, partition: 0, from: cursor, timeout: slice, on: shard.eventLoop)
            .whenComplete { result in
                guard case .success = result else { return }  // the stream went away
                self.push(consumer, to: topic, shard: shard)
            }
    }
}
