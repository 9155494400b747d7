import BusCore
import BusRuntime
import Foundation
import NATSWire
import NIOConcurrencyHelpers
package import NIOCore

extension JetStreamService {
    // MARK: - Pull requests

    /// One waiting pull request (`CONSUMER.MSG.NEXT`), served on its client's loop.
    struct PullRequest {
        let consumer: JetStreamConsumer
        let client: any JetStreamClient
        let inbox: String
        var remaining: Int
        let noWait: Bool
        /// ns; nil: until the batch is filled or the connection closes.
        let deadline: UInt64?
        /// `idle_heartbeat` (ns): a `100 Idle Heartbeat` status after this long without sending anything.
        let heartbeat: UInt64?
        /// When something was last sent for this request (ns).
        var lastSent: UInt64
        /// What is left of `max_bytes` (nil: no bound).
        var remainingBytes: Int? = nil
        /// Messages sent for this request so far.
        var delivered = 0
    }

    /// `{"batch": n, "expires": ns, "no_wait": bool}` (a bare number is a batch, as nats-server reads it).
    func pull(stream: String, consumer name: String, payload: ByteBuffer, client: any JetStreamClient, inbox: String) {
        guard let consumer = consumer(stream: stream, name: name) else {
            return client.deliverJetStream([.status(404, "Consumer Not Found", inbox: inbox)], inbox: inbox)
        }
        var batch = 1
        var expires = 0
        var noWait = false
        var heartbeat = 0
        var maxBytes = 0
        let text = String(buffer: payload).trimmingCharacters(in: .whitespaces)
        if let number = Int(text) {
            batch = number
        } else if let request = try? JetStreamJSON.object(payload) {
            batch = JetStreamJSON.int(request, "batch") ?? 1
            expires = JetStreamJSON.int(request, "expires") ?? 0
            noWait = JetStreamJSON.bool(request, "no_wait") ?? false
            heartbeat = JetStreamJSON.int(request, "idle_heartbeat") ?? 0
            maxBytes = max(0, JetStreamJSON.int(request, "max_bytes") ?? 0)
        } else {
            return client.deliverJetStream([.status(400, "Bad Request", inbox: inbox)], inbox: inbox)
        }
        // nats-server: a heartbeat must fit twice in the request's life.
        if heartbeat > 0, heartbeat * 2 > expires {
            return client.deliverJetStream(
                [.status(400, "Bad Request - heartbeat value too large", inbox: inbox)], inbox: inbox)
        }
        guard batch > 0, batch <= Self.maxBatch else {
            return client.deliverJetStream(
                [.status(409, "Exceeded MaxRequestBatch of \(Self.maxBatch)", inbox: inbox)], inbox: inbox)
        }
        // Several instances share the store: a durable consumer is served by one of them at a time
        // (docs/storage.md "JetStream durable consumers are served by one instance at a time").
        whenServedHere(consumer, on: client.eventLoop) { [self, batch, noWait, expires, heartbeat, maxBytes] served in
            guard served else {
                return client.deliverJetStream(
                    [.status(409, Self.servedElsewhereStatus, inbox: inbox)], inbox: inbox)
            }
            let now = bus.clock()
            consumer.changeWaiting(by: 1)
            serve(
                PullRequest(
                    consumer: consumer, client: client, inbox: inbox, remaining: batch, noWait: noWait,
                    deadline: expires > 0 ? now + UInt64(expires) : nil,
                    heartbeat: heartbeat > 0 ? UInt64(heartbeat) : nil,
                    lastSent: now, remainingBytes: maxBytes > 0 ? maxBytes : nil))
        }
    }

    /// Sends what the consumer has for the request now; then ends it (filled, `no_wait`: 404, expired:
    /// 408) or waits for a new record, at most one slice (so ack-wait redeliveries and NAKs are seen).
    func serve(_ request: PullRequest) {
        let consumer = request.consumer
        let loop = request.client.eventLoop
        guard request.client.isOpenForJetStream,
            self.consumer(stream: consumer.stream, name: consumer.name) === consumer,
            request.client.hasJetStreamInterest(in: request.inbox)
        else {
            consumer.changeWaiting(by: -1)
            return
        }
        let now = bus.clock()
        // At once from the stream's memory tail (a consumer keeping up); records older than the tail come
        // from the store first, off the loop.
        take(from: consumer, limit: request.remaining, now: now, on: loop, maxBytes: request.remainingBytes)
            .whenSuccess { taken in self.served(request, taken, now: now) }
    }

    /// The rest of `serve`: sends what was taken, then ends the request or waits for a new record.
    private func served(_ request: PullRequest, _ taken: Taken, now: UInt64) {
        var request = request
        let consumer = request.consumer
        let loop = request.client.eventLoop
        let stream = consumer.stream
        let streams = bus.streams
        let (deliveries, bytesExceeded, bytesTaken) = (taken.deliveries, taken.bytesExceeded, taken.bytes)
        let (cursor, filters, pendingCount, room) = consumer.withState { state in
            (state.cursor, state.filters, state.pending.count, state.config.maxAckPending)
        }
        var out: [JetStreamOutboundMessage] = []
        if !deliveries.isEmpty {
            let unseen =
                unseenCount(consumer, cursor: cursor, filters: filters)
                + consumer.withState { $0.lastPerSubject.count }
            for (index, delivery) in deliveries.enumerated() {
                out.append(message(delivery, consumer: consumer, pending: unseen + deliveries.count - index - 1))
            }
        }
        request.remaining -= deliveries.count
        request.delivered += deliveries.count
        if let left = request.remainingBytes { request.remainingBytes = left - bytesTaken }
        var finished = request.remaining == 0
        if !finished && bytesExceeded {
            // nats-server: the next message does not fit what is left of `max_bytes`; the request ends.
            out.append(
                .status(
                    409, "Message Size Exceeds MaxBytes", inbox: request.inbox,
                    fields: [
                        ("Nats-Pending-Messages", "\(request.remaining)"),
                        ("Nats-Pending-Bytes", "\(max(0, request.remainingBytes ?? 0))"),
                    ]))
            finished = true
        } else if !finished && request.noWait && request.delivered > 0 {
            // nats-server: a no_wait request that got some of its batch ends where the stream does, with 408.
            out.append(
                .status(
                    408, "Request Timeout", inbox: request.inbox,
                    fields: [("Nats-Pending-Messages", "\(request.remaining)"), ("Nats-Pending-Bytes", "0")]))
            finished = true
        } else if !finished && request.noWait && request.deadline == nil {
            out.append(.status(404, "No Messages", inbox: request.inbox))
            finished = true
        } else if !finished, let deadline = request.deadline, now >= deadline {
            out.append(
                .status(
                    408, "Request Timeout", inbox: request.inbox,
                    fields: [("Nats-Pending-Messages", "\(request.remaining)"), ("Nats-Pending-Bytes", "0")]))
            finished = true
        }
        if out.isEmpty, !finished, let heartbeat = request.heartbeat, now >= request.lastSent + heartbeat {
            out.append(.status(100, "Idle Heartbeat", inbox: request.inbox))
        }
        if !out.isEmpty {
            request.client.deliverJetStream(out, inbox: request.inbox)
            request.lastSent = now
        }
        if finished {
            consumer.changeWaiting(by: -1)
            return
        }
        var slice = Self.pollSlice
        if let deadline = request.deadline { slice = min(slice, Int64(deadline - now)) }
        if let heartbeat = request.heartbeat {
            slice = min(slice, max(1_000_000, Int64(request.lastSent + heartbeat) - Int64(now)))
        }
        let waiting = request
        let full = room >= 0 && pendingCount >= room
        if full {
            // At max_ack_pending: new records would not be taken; look again after the slice.
            loop.scheduleTask(in: .nanoseconds(slice)) { self.serve(waiting) }
            return
        }
        if let due = consumer.withState({ $0.replayDue }) {
            // Replaying at the original pace: the next record is there and goes when its gap has passed.
            slice = max(0, min(slice, due > now ? Int64(due - now) : 0))
            loop.scheduleTask(in: .nanoseconds(slice)) { self.serve(waiting) }
            return
        }
        streams.waitForRecords(stream, partition: 0, from: cursor, timeout: .nanoseconds(slice), on: loop)
            .whenComplete { result in
                if case .failure = result {
                    // The stream went away.
                    consumer.changeWaiting(by: -1)
                    waiting.client.deliverJetStream(
                        [.status(409, "Consumer Deleted", inbox: waiting.inbox)], inbox: waiting.inbox)
                    return
                }
                self.serve(waiting)
            }
    }

    /// What `take` gave: the deliveries, whether the next one did not fit `maxBytes`, and the bytes they
    /// counted (0 without `maxBytes`).
    struct Taken: @unchecked Sendable {  // handed from one round to the next on one loop
        var deliveries: [JetStreamConsumerState.Delivery] = []
        var bytesExceeded = false
        var bytes = 0
        /// What is left of `maxBytes` (nil: no bound).
        var budget: Int?
        /// The take ended, with deliveries, before a round that reads the store (`deliverBeforeStoreReads`):
        /// there is more to take at once.
        var endedBeforeStoreRead = false
    }

    /// The records one round of `take` looks at: from the cursor on, and the due redeliveries.
    struct RoundReads: @unchecked Sendable {  // read on one loop, used there
        var fresh: [StreamReadRecord] = []
        var redelivered: [UInt64: StreamReadRecord] = [:]
    }

    /// Up to `limit` deliveries from `consumer`. The records are read before the consumer's lock is taken
    /// (no project lock is taken while another is held: docs/concurrency.md): its cursor and due
    /// redeliveries are read, those records fetched from the stream, then the state takes what is still
    /// its to take (another pull may have moved it meanwhile); again while a full read found too few.
    /// Runs on `loop`, a bus loop, where the `MAX_DELIVERIES` advisories of what reached `max_deliver`
    /// meanwhile are published. Completes at once while the records are in the stream's memory tail;
    /// a round reaching older ones reads them from the store first (off the loop).
    /// `maxBytes` (a pull request's `max_bytes`) bounds the deliveries by `deliverySize`; `bytesExceeded`
    /// says the next one did not fit, `bytes` what the deliveries counted (0 without `maxBytes`).
    /// `deliverBeforeStoreReads` (a push round) ends the take before a round that reads the store once some
    /// deliveries are taken: they are counted out of the consumer's pending as they are taken, so they
    /// must be published before the loop turns, or an info answered meanwhile on the loop reports them
    /// neither pending nor delivered.
    func take(
        from consumer: JetStreamConsumer, limit: Int, now: UInt64, on loop: any EventLoop, maxBytes: Int? = nil,
        deliverBeforeStoreReads: Bool = false
    ) -> EventLoopFuture<Taken> {
        takeRounds(
            from: consumer, limit: limit, now: now, on: loop, maxBytes: maxBytes,
            deliverBeforeStoreReads: deliverBeforeStoreReads, Taken(budget: maxBytes), round: 0)
    }

    private func takeRounds(
        from consumer: JetStreamConsumer, limit: Int, now: UInt64, on loop: any EventLoop, maxBytes: Int?,
        deliverBeforeStoreReads: Bool, _ taken: Taken, round first: Int
    ) -> EventLoopFuture<Taken> {
        var taken = taken
        for round in first..<Self.maxReadRounds {
            let (cursor, due) = consumer.withState { state in
                // A last-per-subject consumer's first sequences are read like redeliveries: one by one.
                (
                    state.cursor,
                    state.pending.filter { $0.value.deadline <= now }.keys.sorted()
                        + state.lastPerSubject.prefix(limit - taken.deliveries.count)
                )
            }
            let wanted = max(limit - taken.deliveries.count, Self.readAhead)
            let sequences = Array(due.prefix(2 * (limit - taken.deliveries.count)))
            guard let reads = roundReadsNow(consumer.stream, cursor: cursor, wanted: wanted, due: sequences, now: now)
            else {
                if deliverBeforeStoreReads && !taken.deliveries.isEmpty {
                    taken.endedBeforeStoreRead = true
                    break
                }
                // Older than the stream keeps in memory: this round's records come from the store.
                let before = taken
                return roundReads(consumer.stream, cursor: cursor, wanted: wanted, due: sequences, on: loop)
                    .flatMap { reads in
                        var taken = before
                        guard
                            self.takeRound(
                                consumer, reads, cursor: cursor, wanted: wanted, limit: limit, now: now,
                                taken: &taken)
                        else {
                            return loop.makeSucceededFuture(
                                self.finishTake(consumer, taken, maxBytes: maxBytes, now: now, on: loop))
                        }
                        return self.takeRounds(
                            from: consumer, limit: limit, now: now, on: loop, maxBytes: maxBytes,
                            deliverBeforeStoreReads: deliverBeforeStoreReads, taken, round: round + 1)
                    }
            }
            guard takeRound(consumer, reads, cursor: cursor, wanted: wanted, limit: limit, now: now, taken: &taken)
            else { break }
        }
        return loop.makeSucceededFuture(finishTake(consumer, taken, maxBytes: maxBytes, now: now, on: loop))
    }

    /// A round's records when their bodies are all in memory; nil when some are in the store only.
    private func roundReadsNow(_ stream: String, cursor: UInt64, wanted: Int, due: [UInt64], now: UInt64)
        -> RoundReads?
    {
        guard let partition = bus.streams.stream(named: stream)?.partitions[0] else { return RoundReads() }
        var reads = RoundReads()
        guard let fresh = partition.readNow(from: cursor, limit: wanted, maxBytes: .max, now: now) else { return nil }
        reads.fresh = fresh.records
        for sequence in due {
            // The record at or after it: another sequence means it was purged (the state drops it).
            guard let read = partition.readNow(from: sequence, limit: 1, maxBytes: .max, now: now) else { return nil }
            if let record = read.records.first { reads.redelivered[sequence] = record }
        }
        return reads
    }

    /// A round's records, those older than the stream keeps in memory read from the store; on `loop`.
    private func roundReads(_ stream: String, cursor: UInt64, wanted: Int, due: [UInt64], on loop: any EventLoop)
        -> EventLoopFuture<RoundReads>
    {
        let streams = bus.streams
        let fresh = streams.read(stream, partition: 0, from: cursor, limit: wanted, on: loop)
            .map(\.records).recover { _ in [] }
        let redelivered = due.map { sequence in
            streams.read(stream, partition: 0, from: sequence, limit: 1, on: loop)
                .map { (sequence, $0.records.first) }.recover { _ in (sequence, nil) }
        }
        return fresh.and(EventLoopFuture.whenAllSucceed(redelivered, on: loop)).map { fresh, redelivered in
            var reads = RoundReads(fresh: fresh)
            for (sequence, record) in redelivered { reads.redelivered[sequence] = record }
            return reads
        }
    }

    /// One round: the consumer's state takes what it still may of `reads`. False when the rounds end.
    private func takeRound(
        _ consumer: JetStreamConsumer, _ reads: RoundReads, cursor: UInt64, wanted: Int, limit: Int, now: UInt64,
        taken: inout Taken
    ) -> Bool {
        let replyBytes = Self.ackReplyOverhead + consumer.stream.utf8.count + consumer.name.utf8.count
        let budget = taken.budget
        let already = taken.deliveries.count
        let fresh = reads.fresh
        let (round, stopped) = consumer.withState { state in
            let round = state.next(
                limit: limit - already, now: now, maxBytes: budget,
                size: { Self.deliverySize($0, replyBytes: replyBytes) }
            ) { from, count in
                if count == 1, let record = reads.redelivered[from] { return [record] }
                // A redelivery not read ahead (it became due meanwhile) waits for the next round.
                if from < cursor { return [] }
                return Array(fresh.lazy.filter { $0.offset >= from }.prefix(count))
            }
            return (round, state.stoppedByBytes)
        }
        taken.deliveries += round
        if let left = taken.budget {
            taken.budget = left - round.reduce(0) { $0 + Self.deliverySize($1.record, replyBytes: replyBytes) }
        }
        if stopped {
            taken.bytesExceeded = true
            return false
        }
        // Replaying at the original pace: the next record waits for its gap.
        return taken.deliveries.count < limit && fresh.count >= wanted && consumer.withState({ $0.replayDue == nil })
    }

    /// After the rounds: the `MAX_DELIVERIES` advisories, a consumer without acks done with what it was
    /// sent, and the bytes the deliveries counted.
    private func finishTake(
        _ consumer: JetStreamConsumer, _ taken: Taken, maxBytes: Int?, now: UInt64, on loop: any EventLoop
    ) -> Taken {
        var taken = taken
        let exhausted = consumer.withState { $0.takeExhausted() }
        if !exhausted.isEmpty { announceMaxDeliveries(exhausted, of: consumer, now: now, on: loop) }
        // Without acks, a consumer is done with what it was sent (interest retention may let it go).
        if !taken.deliveries.isEmpty, consumer.config.ackPolicy == .none {
            release(taken.deliveries.map(\.streamSequence), by: consumer)
        }
        taken.bytes = maxBytes.map { $0 - (taken.budget ?? 0) } ?? 0
        return taken
    }

    /// How nats-server counts a delivery against `max_bytes`: subject, reply, headers and payload (the
    /// record's size as the stream counts it, plus the reply).
    static func deliverySize(_ record: StreamReadRecord, replyBytes: Int) -> Int {
        StreamPartitionBox.recordBytes(of: record.record.message) + replyBytes
    }

    /// `$JS.ACK.` and the five numbers after the stream and consumer names, as long as they usually are.
    static let ackReplyOverhead = 8 + 5 + 40

    /// A delivery as nats-server sends it: the stored subject, headers and payload, replied to on
    /// `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>`.
    func message(_ delivery: JetStreamConsumerState.Delivery, consumer: JetStreamConsumer, pending: Int)
        -> JetStreamOutboundMessage
    {
        let message = delivery.record.record.message
        // Built in one buffer: interpolating the seven tokens grew the string five times per delivery.
        var reply = consumer.acknowledgementSubjectPrefix
        reply.reserveCapacity(reply.utf8.count + 5 * 20)
        reply += String(delivery.deliveries)
        reply += "."
        reply += String(delivery.streamSequence)
        reply += "."
        reply += String(delivery.consumerSequence)
        reply += "."
        reply += String(delivery.record.time)
        reply += "."
        reply += String(pending)
        return JetStreamOutboundMessage(
            subject: NATSSubjectMapping.subject(forTopic: message.topic.name), replyTo: reply,
            headers: NATSHeaderBlock(message.headers), payload: message.payload)
    }

    /// nats-server's advisory for a message a consumer will not deliver again (it reached `max_deliver`),
    /// on `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`; the message stays in the stream.
    private func announceMaxDeliveries(
        _ exhausted: [(sequence: UInt64, deliveries: Int)], of consumer: JetStreamConsumer, now: UInt64,
        on loop: any EventLoop
    ) {
        let topic = "$JS/EVENT/ADVISORY/CONSUMER/MAX_DELIVERIES/\(consumer.stream)/\(consumer.name)"
        for (sequence, deliveries) in exhausted {
            advise(
                topic,
                [
                    "type": "io.nats.jetstream.advisory.v1.max_deliver", "stream": consumer.stream,
                    "consumer": consumer.name, "stream_seq": sequence, "deliveries": deliveries,
                ], on: loop)
        }
    }

    // MARK: - Acknowledgements

    /// A publish on `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>`
    /// (`tokens` after `$JS.ACK.`); false when it names no consumer's delivery.
    @discardableResult
    package func acknowledge(_ tokens: ArraySlice<Substring>, payload: ByteBuffer) -> Bool {
        restoreConsumersIfNeeded()
        let first = tokens.startIndex
        guard tokens.count == 7, let sequence = UInt64(tokens[first + 3]),
            let consumer = consumer(stream: String(tokens[first]), name: String(tokens[first + 1])),
            let acknowledgement = JetStreamConsumerState.Acknowledgement(payload: String(buffer: payload))
        else { return false }
        let now = bus.clock()
        let (moved, done) = consumer.withState { state -> (Bool, [UInt64]) in
            let before = state.ackFloorStreamSequence
            let done = state.acknowledge(sequence, acknowledgement, now: now)
            return (state.ackFloorStreamSequence != before, done)
        }
        if moved { persist(consumer) }
        release(done, by: consumer)
        return true
    }
}
