import Atomics
import BusCore
import BusRuntime
import Foundation
import NIOConcurrencyHelpers
import NIOCore

extension JetStreamService {
    // MARK: - Durable consumers across restarts

    /// Durable consumers are kept in a bus stream of their own (`_jetstream_consumers`, `file` storage,
    /// one record per consumer subject `$JS/consumers/<stream>/<consumer>` thanks to a per-subject limit
    /// of 1): the configuration, the ack floor and the creation time; an empty record deletes. Written on
    /// create, delete and every acknowledgement that moves the floor (group commit batches them); read
    /// back once, before the first JetStream request after a start. A restored consumer resumes after its
    /// ack floor: what was delivered and not acknowledged comes again (at least once); its consumer
    /// sequence starts over.
    func persist(_ consumer: JetStreamConsumer, deleted: Bool = false) {
        let config = consumer.config
        guard config.durableName != nil else { return }
        let floor = consumer.withState { $0.ackFloorStreamSequence }
        var payload = ByteBuffer()
        if !deleted {
            payload = JetStreamJSON.encode([
                "stream": consumer.stream, "config": config.json, "ack_floor": floor, "created": consumer.created,
            ])
        }
        let message = BusMessage(
            topic: Topic(trusted: "$JS/consumers/\(consumer.stream)/\(consumer.name)"), payload: payload,
            timestamp: bus.clock())
        let streams = bus.streams
        let append: @Sendable () -> Void = {
            streams.append(message, placement: StreamPlacement(stream: JetStreamStreamConfig.consumerStoreName)) { _ in
            }
        }
        guard streams.stream(named: JetStreamStreamConfig.consumerStoreName) == nil else { return append() }
        let store = StreamConfiguration(
            name: JetStreamStreamConfig.consumerStoreName, filters: [],
            limits: StreamLimits(maxMessagesPerSubject: 1), storage: .file)
        streams.create(store) { _ in append() }  // made by another persist meanwhile: appended all the same
    }

    /// Takes back the durable consumers kept before the last restart (once per process).
    func restoreConsumersIfNeeded() {
        guard !restoredConsumers.load(ordering: .acquiring) else { return }
        guard
            restoredConsumers.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
                .exchanged
        else { return }
        let name = JetStreamStreamConfig.consumerStoreName
        guard bus.streams.stream(named: name) != nil else { return }
        var from: UInt64 = 0
        while let records = try? bus.streams.read(name, partition: 0, from: from, limit: 1024).records,
            let last = records.last
        {
            for record in records { restoreConsumer(record.record.message) }
            from = last.offset + 1
        }
    }

    private func restoreConsumer(_ message: BusMessage) {
        guard message.payload.readableBytes > 0, let document = try? JetStreamJSON.object(message.payload),
            let stream = JetStreamJSON.string(document, "stream"), let json = document["config"] as? [String: Any],
            let name = JetStreamJSON.string(json, "name"), bus.streams.stream(named: stream) != nil,
            let config = try? JetStreamConsumerConfig(json: json, name: name), let filters = try? config.filters()
        else { return }
        let floor = UInt64(max(0, JetStreamJSON.int(document, "ack_floor") ?? 0))
        let created = UInt64(max(0, JetStreamJSON.int(document, "created") ?? 0))
        var initial = JetStreamConsumerState(config: config, filters: filters, cursor: floor + 1)
        initial.lastActive = bus.clock()
        let consumer = JetStreamConsumer(stream: stream, state: initial, created: created)
        let registered = state.withLockedValue { state -> Bool in
            guard state.consumers[stream]?[name] == nil else { return false }
            state.consumers[stream, default: [:]][name] = consumer
            return true
        }
        if registered, config.deliverSubject != nil { startPushing(consumer) }
    }
}
