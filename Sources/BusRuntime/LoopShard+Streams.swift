package import BusCore
import NIOCore
import Storage

extension LoopShard {
    /// Stream appends of this loop waiting for the store, and whose answers it completes: one record, or
    /// one partition's records of a batch publish.
    enum PendingStreamAppend {
        case one(StreamRegistry.PreparedAppend, acks: StreamAcks?, slot: Int)
        case batch(StreamRegistry.PreparedPartitionBatch, acks: StreamAcks)
    }

    /// The answers of one publish's stream appends, collected on this loop; confined to it.
    final class StreamAcks {
        var acks: [StreamAppendAck]
        var remaining: Int
        let completion: ([StreamAppendAck]) -> Void

        init(acks: [StreamAppendAck], remaining: Int, completion: @escaping ([StreamAppendAck]) -> Void) {
            self.acks = acks
            self.remaining = remaining
            self.completion = completion
        }

        func arrive(_ ack: StreamAppendAck, at slot: Int) {
            acks[slot] = ack
            remaining -= 1
            if remaining == 0 { completion(acks) }
        }

        /// A batch's records at `slots` are stored (`failure` nil) or refused with it.
        func arrive(slots: [Int], failure: String?) {
            if let failure { for slot in slots { acks[slot].outcome = .refused(failure) } }
            remaining -= slots.count
            if remaining == 0 { completion(acks) }
        }
    }

    /// Publishes `messages` in order, each as `publish(_:placement:acknowledged:whenDeferred:)` would, with
    /// one acknowledgement for them all: `acknowledged` gets each message's stream answers (in the
    /// messages' order; an acceptor's refusal last, as one by one) on this loop once the last is stored. A
    /// Kafka REST produce of hundreds of records takes this path: one answer collector and one place in
    /// the ordered acknowledgements per request instead of one of each per record.
    package func publish(
        _ messages: [BusMessage], placements: [StreamPlacement?],
        acknowledged: @escaping ([[StreamAppendAck]]) -> Void
    ) {
        eventLoop.preconditionInEventLoop()
        precondition(messages.count == placements.count, "one placement per message")
        let layout = BatchLayout(count: messages.count)
        let awaited = AwaitedAcknowledgement { flat in acknowledged(layout.split(flat)) }
        awaiting.append(awaited)
        var plans: [MatchPlan] = []
        plans.reserveCapacity(messages.count)
        var streams: [[StreamBox]?] = []
        streams.reserveCapacity(messages.count)
        for (index, message) in messages.enumerated() {
            let plan = self.plan(for: message.topic)
            plans.append(plan)
            streams.append(Self.isStoredInLog(message) ? plan.streams : nil)
            if let acceptor = plan.acceptor, !message.isRemote {
                awaited.parts += 1
                acceptor.accept(message, from: eventLoop) { failure in
                    self.eventLoop.execute {
                        if let failure {
                            layout.refusals[index] = StreamAppendAck(
                                stream: message.topic.name, partition: 0, offset: 0, epoch: "",
                                outcome: .refused(failure))
                        }
                        self.answered(awaited)
                    }
                }
            }
        }
        // Every stream append of the batch before any delivery, as one by one (each message is appended
        // before it is delivered): one pass per partition (`StreamRegistry.prepareAppends(batch:…)`).
        let prepared = bus.streams.prepareAppends(batch: messages, streams: streams, placements: placements)
        layout.counts = prepared.counts
        for (message, plan) in zip(messages, plans) { _ = publish(message, plan: plan, whenDeferred: nil) }
        guard !prepared.pending.isEmpty else {
            awaited.acks = prepared.acks
            return answered(awaited)
        }
        let acks = StreamAcks(acks: prepared.acks, remaining: prepared.pending.reduce(0) { $0 + $1.slots.count }) {
            flat in
            awaited.acks = flat
            self.answered(awaited)
        }
        for pending in prepared.pending { pendingStreamAppends.append(.batch(pending, acks: acks)) }
        scheduleHandOff()
    }

    /// Publishes as `publish(_:whenDeferred:)` does, except into `storedIn`: streams the message was
    /// appended to already, and stored with the change it reports (a record change's feed,
    /// `RecordCollections`). Streams capturing the topic since are appended to as usual.
    func publish(_ message: BusMessage, storedIn stored: [StreamBox]) {
        eventLoop.preconditionInEventLoop()
        let plan = self.plan(for: message.topic)
        if !plan.streams.isEmpty, Self.isStoredInLog(message) {
            var others: [StreamBox] = []
            for box in plan.streams where !stored.contains(where: { $0 === box }) { others.append(box) }
            if !others.isEmpty { capture(message, streams: others, placement: nil, acknowledged: nil) }
        }
        if let acceptor = plan.acceptor, !message.isRemote { acceptor.accept(message, from: eventLoop, done: nil) }
        _ = publish(message, plan: plan, whenDeferred: nil)
    }

    /// How a batch's answers are laid out: `counts[i]` stream answers for message i, in order, then its
    /// acceptor's refusal if any. Confined to the shard's loop (it only crosses threads inside the
    /// acceptor's hop back, as `AwaitedAcknowledgement` does).
    final class BatchLayout: @unchecked Sendable {
        var counts: [Int]
        var refusals: [Int: StreamAppendAck] = [:]

        init(count: Int) { counts = Array(repeating: 0, count: count) }

        func split(_ flat: [StreamAppendAck]) -> [[StreamAppendAck]] {
            var answers: [[StreamAppendAck]] = []
            answers.reserveCapacity(counts.count)
            var start = 0
            for (index, count) in counts.enumerated() {
                var acks = Array(flat[start..<start + count])
                if let refusal = refusals[index] { acks.append(refusal) }
                answers.append(acks)
                start += count
            }
            return answers
        }
    }

    /// Appends to the streams (memory ones at once); `file` streams' records are stored with this tick's
    /// other appends in one batch at the hand-off, and answered when it commits.
    func capture(
        _ message: BusMessage, streams: [StreamBox], placement: StreamPlacement?,
        acknowledged: (([StreamAppendAck]) -> Void)?
    ) {
        // Several instances share the store: a partition another instance writes is claimed first.
        if bus.streams.sharing != nil, holdsCapture(into: streams) {
            return hold(
                HeldCapture(message: message, streams: streams, placement: placement, acknowledged: acknowledged))
        }
        captureNow(message, streams: streams, placement: placement, acknowledged: acknowledged)
    }

    /// Another instance's publish (brought by the engine) into the streams here, when the instances share
    /// the store: a `file` stream is the store's, and the publishing instance appended it there (the copy
    /// here follows the store); a `memory` stream is this instance's own and takes it.
    func captureRemote(_ message: BusMessage, streams: [StreamBox]) {
        let own = streams.filter { $0.storage == .memory }
        if !own.isEmpty { capture(message, streams: own, placement: nil, acknowledged: nil) }
    }

    /// `capture` once the partitions may be appended to here (or the wait for them is over).
    func captureNow(
        _ message: BusMessage, streams: [StreamBox], placement: StreamPlacement?,
        acknowledged: (([StreamAppendAck]) -> Void)?
    ) {
        let prepared = bus.streams.prepareAppends(message, streams: streams, placement: placement)
        let waiting = prepared.reduce(0) { $0 + ($1.pending == nil ? 0 : 1) }
        guard waiting > 0 else {
            acknowledged?(prepared.map(\.ack))
            return
        }
        let acks = acknowledged.map { StreamAcks(acks: prepared.map(\.ack), remaining: waiting, completion: $0) }
        for (slot, item) in prepared.enumerated() where item.pending != nil {
            pendingStreamAppends.append(.one(item, acks: acks, slot: slot))
        }
        scheduleHandOff()
    }

    /// Stores this tick's stream appends in one batch; each becomes readable and is answered on commit.
    func storeStreamAppends() {
        let batch = pendingStreamAppends
        pendingStreamAppends = []
        var collector = StreamWriteCollector()
        for item in batch {
            switch item {
            case .one(let prepared, _, _): collector.add(prepared)
            case .batch(let prepared, _): collector.add(prepared)
            }
        }
        let handover = Handover(value: batch)
        bus.streams.submit(collector.finish()) { error in
            let failure = error.map { "\($0)" }
            self.eventLoop.execute { self.streamAppendsStored(handover.value, failure: failure) }
        }
    }

    private func streamAppendsStored(_ batch: [PendingStreamAppend], failure: String?) {
        let error = failure.map(StoreError.init)
        if failure != nil { bus.metrics.countStoreFailure() }
        for item in batch {
            switch item {
            case .one(let prepared, let acks, let slot):
                let ack = StreamRegistry.finish(prepared, failure: error)
                acks?.arrive(ack, at: slot)
            case .batch(let prepared, let acks):
                acks.arrive(slots: prepared.slots, failure: StreamRegistry.finish(prepared, failure: error))
            }
        }
    }
}
