import BusCore
import BusRuntime
import NIOConcurrencyHelpers

extension JetStreamService {
    // MARK: - Interest and work-queue retention

    /// Lets go of the stream sequences `consumer` is done with (acknowledged or terminated; sent, for a
    /// consumer without acks), as its stream's retention says: a work queue removes what its one
    /// consumer of that subject acknowledged; an interest stream removes a message once every consumer
    /// whose filters match it is done with it. A `limits` stream keeps everything to its limits.
    func release(_ sequences: [UInt64], by consumer: JetStreamConsumer) {
        guard !sequences.isEmpty, let box = bus.streams.stream(named: consumer.stream) else { return }
        switch box.configuration.retention {
        case .limits:
            return
        case .workQueue:
            for sequence in sequences { remove(consumer.stream, sequence) }
        case .interest:
            let others = consumers(of: consumer.stream).filter { $0 !== consumer }
            for sequence in sequences {
                guard
                    let record = try? bus.streams.readIndex(consumer.stream, partition: 0, from: sequence, limit: 1)
                        .records.first, record.offset == sequence
                else { continue }
                if !wanted(record, by: others) { remove(consumer.stream, sequence) }
            }
        }
    }

    /// An interest stream keeps nothing no consumer wants. Records appended since the last sweep that no
    /// consumer's filters match go (nats-server does not keep a message published without interest: it
    /// answers its PubAck and skips the sequence); after a consumer went (`full`), every record no
    /// remaining consumer still waits for goes. Swept before the requests that would show such records
    /// (stream info and lists, message gets, consumer creation) and after a consumer is deleted.
    func sweepInterest(_ stream: String, full: Bool = false) {
        guard let box = bus.streams.stream(named: stream), box.configuration.retention == .interest else { return }
        let first = box.partitions[0].info.firstOffset
        let swept = state.withLockedValue { $0.interestSwept[stream] ?? 0 }
        var from = full ? first : max(first, swept)
        let consumers = consumers(of: stream)
        while let records = try? bus.streams.readIndex(stream, partition: 0, from: from, limit: 1024).records,
            let last = records.last
        {
            for record in records where !wanted(record, by: consumers) { remove(stream, record.offset) }
            from = last.offset + 1
        }
        let reached = from
        state.withLockedValue { $0.interestSwept[stream] = max($0.interestSwept[stream] ?? 0, reached) }
    }

    /// Sweeps every interest stream (before listing streams).
    func sweepInterestStreams() {
        for box in bus.streams.list() where box.configuration.retention == .interest {
            sweepInterest(box.configuration.name)
        }
    }

    /// The consumers of one stream now.
    func consumers(of stream: String) -> [JetStreamConsumer] {
        state.withLockedValue { $0.consumers[stream].map { Array($0.values) } ?? [] }
    }

    private func wanted(_ record: StreamIndexRecord, by consumers: [JetStreamConsumer]) -> Bool {
        let topic = record.topic
        return consumers.contains { consumer in
            consumer.withState { $0.matches(topic) && !$0.isDone(with: record.offset) }
        }
    }

    private func remove(_ stream: String, _ sequence: UInt64) {
        bus.streams.deleteRecord(stream, partition: 0, offset: sequence) { _ in }
    }

    /// nats-server's rules for a consumer of a work-queue stream: explicit acks, delivering everything,
    /// and no two consumers that could take the same message (nil: allowed).
    func workQueueRefusal(_ config: JetStreamConsumerConfig, filters: [TopicFilter], stream: String)
        -> JetStreamAPIError?
    {
        guard bus.streams.stream(named: stream)?.configuration.retention == .workQueue else { return nil }
        guard config.ackPolicy == .explicit else {
            return JetStreamAPIError(code: 400, errCode: 10098, description: "workqueue stream requires explicit ack")
        }
        guard config.deliverPolicy == .all else {
            return JetStreamAPIError(
                code: 400, errCode: 10101, description: "consumer must be deliver all on workqueue stream")
        }
        let others = consumers(of: stream).filter { $0.name != config.name }
        guard !others.isEmpty else { return nil }
        guard !filters.isEmpty else {
            return JetStreamAPIError(
                code: 400, errCode: 10099,
                description: "multiple non-filtered consumers not allowed on workqueue stream")
        }
        for other in others {
            let theirs = other.withState { $0.filters }
            if theirs.isEmpty
                || theirs.contains(where: { mine in filters.contains { JetStreamStreamConfig.overlap(mine, $0) } })
            {
                return JetStreamAPIError(
                    code: 400, errCode: 10100, description: "filtered consumer not unique on workqueue stream")
            }
        }
        return nil
    }
}
