import BusCore
import BusRuntime
import NIOConcurrencyHelpers
import NIOCore

extension JetStreamService {
    // MARK: - Republish

    /// Starts (or restarts, after an update) republishing `stream`'s newly stored messages when its
    /// settings ask for it: from the message after the newest now. One round at a time on one loop reads
    /// what was stored since the last, publishes it again on the destination (as nats-server, after it is
    /// stored, with `Nats-Stream`, `Nats-Subject`, `Nats-Sequence`, `Nats-Time-Stamp` and
    /// `Nats-Last-Sequence`), then waits for the next record. A delete, or an update that changes the
    /// settings, ends the rounds (their generation is no longer the stream's).
    func startRepublishing(_ stream: String) {
        let generation = state.withLockedValue { state -> UInt64? in
            state.republishGeneration += 1
            guard state.kept[stream]?.republish != nil else {
                state.republishers[stream] = nil
                return nil
            }
            state.republishers[stream] = state.republishGeneration
            return state.republishGeneration
        }
        guard let generation, let box = bus.streams.stream(named: stream) else { return }
        let next = box.partitions[0].info.lastOffset + 1
        let shards = bus.shards
        let shard = shards[Int(UInt(bitPattern: stream.hashValue) % UInt(shards.count))]
        shard.eventLoop.execute { self.republish(stream, from: next, generation: generation, shard: shard) }
    }

    private func republish(_ stream: String, from next: UInt64, generation: UInt64, shard: LoopShard) {
        let settings = state.withLockedValue { state -> JetStreamRepublish? in
            guard state.republishers[stream] == generation else { return nil }
            return state.kept[stream]?.republish
        }
        guard let settings else { return }
        // Newly stored records are in the stream's memory tail (read at once); a round that fell behind
        // it reads the older ones from the store.
        bus.streams.read(stream, partition: 0, from: next, limit: 256, on: shard.eventLoop).whenComplete { result in
            self.republish(
                (try? result.get().records) ?? [], of: stream, from: next, settings: settings, generation: generation,
                shard: shard)
        }
    }

    /// The rest of a round: publishes `records` (read from `next` on) again, then waits for the next.
    private func republish(
        _ records: [StreamReadRecord], of stream: String, from next: UInt64, settings: JetStreamRepublish,
        generation: UInt64, shard: LoopShard
    ) {
        var next = next
        for record in records {
            next = record.offset + 1
            let message = record.record.message
            let subject = NATSSubjectMapping.subject(forTopic: message.topic.name)
            guard let destination = settings.destination(for: subject),
                let topic = try? Topic(NATSSubjectMapping.topicName(forSubject: destination, literalWildcards: true))
            else { continue }
            var headers = message.headers
            headers.replyTo = nil
            headers.userProperties += [
                UserProperty(name: "Nats-Stream", value: stream), UserProperty(name: "Nats-Subject", value: subject),
                UserProperty(name: "Nats-Sequence", value: String(record.offset)),
                UserProperty(name: "Nats-Time-Stamp", value: JetStreamJSON.time(record.time)),
                UserProperty(name: "Nats-Last-Sequence", value: String(record.offset - 1)),
            ]
            var payload = message.payload
            if settings.headersOnly {
                headers.userProperties.append(UserProperty(name: "Nats-Msg-Size", value: String(payload.readableBytes)))
                payload = ByteBuffer()
            }
            shard.publish(BusMessage(topic: topic, payload: payload, headers: headers, timestamp: bus.clock()))
        }
        if records.count == 256 {
            let from = next
            shard.eventLoop.execute { self.republish(stream, from: from, generation: generation, shard: shard) }
            return
        }
        let from = next
        bus.streams.waitForRecords(stream, partition: 0, from: from, timeout: .seconds(1), on: shard.eventLoop)
            .whenComplete { result in
                // The stream went away: nothing more to republish.
                guard case .success = result else { return }
                self.republish(stream, from: from, generation: generation, shard: shard)
            }
    }
}
