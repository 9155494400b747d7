import BusCore
import Dispatch
package import NIOConcurrencyHelpers

/// Copies everything one store holds into another, empty one: `switchboard migrate-store`, which moves an
/// embedded SQLite store into PostgreSQL. The source is read with `load(streamBodies: false)` (what a
/// restart would see; a stream's records then a batch at a time) and written to the destination as the
/// writes that would have made it, in batches, so the destination's own group commit and schema apply. A log keeps its epoch, so clients resume across the move, unless its
/// newest offset cannot be carried (no message left to carry it, or rows missing): then it starts a new
/// epoch, and clients are told they could not recover instead of resuming into offsets that mean
/// something else.
package enum StoreCopy {
    /// What was copied.
    package struct Counts: Sendable, Equatable, CustomStringConvertible {
        package var logs = 0
        package var logMessages = 0
        /// Logs that start a new epoch in the destination.
        package var logsInNewEpoch = 0
        package var retained = 0
        package var sessions = 0
        package var sessionMessages = 0
        package var consumerOffsets = 0
        package var exchanges = 0
        package var queues = 0
        package var bindings = 0
        package var queueMessages = 0
        package var streams = 0
        package var streamMessages = 0
        package var streamConsumerOffsets = 0
        package var collections = 0
        package var records = 0

        package var description: String {
            """
            \(logs) topic logs (\(logMessages) messages, \(logsInNewEpoch) in a new epoch), \(retained) retained \
            messages, \(sessions) sessions (\(sessionMessages) session messages), \(consumerOffsets) consumer \
            offsets, \(exchanges) exchanges, \(queues) queues, \(bindings) bindings, \(queueMessages) queue messages, \
            \(streams) streams (\(streamMessages) messages, \(streamConsumerOffsets) consumer group offsets), \
            \(collections) record collections (\(records) records)
            """
        }
    }

    package struct DestinationNotEmpty: Error, CustomStringConvertible {
        package var description: String {
            "the destination store already holds state; migrate-store only copies into an empty store"
        }
    }

    /// Writes per submitted batch.
    static let batchSize = 1_000

    /// Copies `source` into `destination`, which must hold nothing; returns once every write is durable.
    /// Streams are loaded as their index entries and their records copied a batch at a time
    /// (`Store.readStream`), so a stream larger than memory moves too.
    package static func copy(
        from source: any Store, to destination: any Store, newEpoch: () -> String
    ) throws -> Counts {
        guard try destination.load(streamBodies: false).isEmpty else { throw DestinationNotEmpty() }
        let state = try source.load(streamBodies: false)
        let (writes, counts) = self.writes(for: state, newEpoch: newEpoch)
        try submit(writes, to: destination)
        for stream in state.streams {
            for (index, partition) in stream.partitions.enumerated() where !partition.index.isEmpty {
                let offsets = partition.index.map(\.offset)
                var start = 0
                while start < offsets.count {
                    let end = min(start + batchSize, offsets.count)
                    let messages = try read(
                        source, stream.configuration.name, partition: index, offsets: Array(offsets[start..<end]))
                    // One batch written before the next is read: memory holds one batch of records.
                    try submit(messages.map { .appendStream($0) }, to: destination)
                    start = end
                }
            }
        }
        return counts
    }

    /// Submits `writes` in batches and waits until every one is durable.
    private static func submit(_ writes: [StoreWrite], to destination: any Store) throws {
        let group = DispatchGroup()
        let failure = NIOLockedValueBox<(any Error)?>(nil)
        var start = 0
        while start < writes.count {
            let end = min(start + batchSize, writes.count)
            group.enter()
            destination.submit(Array(writes[start..<end])) { error in
                if let error { failure.withLockedValue { $0 = $0 ?? error } }
                group.leave()
            }
            start = end
        }
        group.wait()
        if let error = failure.withLockedValue({ $0 }) { throw error }
    }

    /// `Store.readStream`, waited for.
    private static func read(_ source: any Store, _ stream: String, partition: Int, offsets: [UInt64]) throws
        -> [StoredStreamMessage]
    {
        let done = DispatchSemaphore(value: 0)
        let result = NIOLockedValueBox<Result<[StoredStreamMessage], any Error>>(.success([]))
        source.readStream(stream, partition: partition, offsets: offsets) { outcome in
            result.withLockedValue { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLockedValue { $0 }.get()
    }

    /// The writes that make a store hold `state`, in an order each store accepts (exchanges before their
    /// bindings, session messages before the deliveries that name them).
    package static func writes(for state: StoredState, newEpoch: () -> String) -> ([StoreWrite], Counts) {
        var writes: [StoreWrite] = []
        var counts = Counts()
        for exchange in state.exchanges { writes.append(.saveExchange(exchange)) }
        for queue in state.queues { writes.append(.saveQueue(queue)) }
        for binding in state.bindings { writes.append(.saveBinding(binding)) }
        for binding in state.exchangeBindings { writes.append(.saveExchangeBinding(binding)) }
        for message in state.queueMessages { writes.append(.saveQueueMessage(message)) }
        counts.exchanges = state.exchanges.count
        counts.queues = state.queues.count
        counts.bindings = state.bindings.count + state.exchangeBindings.count
        counts.queueMessages = state.queueMessages.count

        for log in state.logs {
            counts.logs += 1
            let carried = log.intact && log.messages.last.map { $0.offset == log.lastOffset } == true
            guard carried else {
                // Nothing can carry the newest offset: a new epoch, empty.
                counts.logsInNewEpoch += 1
                writes.append(.resetLog(topic: log.topic, epoch: newEpoch()))
                continue
            }
            writes.append(.resetLog(topic: log.topic, epoch: log.epoch))
            // Keep every offset from the oldest copied one on (the destination trims by this span).
            let span = Int(clamping: log.lastOffset - (log.messages.first?.offset ?? log.lastOffset) + 1)
            for message in log.messages {
                writes.append(.appendLog(topic: log.topic, epoch: log.epoch, message: message, keep: span))
            }
            counts.logMessages += log.messages.count
        }
        for message in state.retained { writes.append(.retain(topic: message.topic, message: message)) }
        counts.retained = state.retained.count

        for (seq, message) in state.sessionMessages { writes.append(.saveSessionMessage(seq: seq, message: message)) }
        counts.sessionMessages = state.sessionMessages.count
        for session in state.sessions {
            let clientID = session.header.clientID
            writes.append(.saveSession(session.header))
            for subscription in session.subscriptions {
                writes.append(.saveSubscription(clientID: clientID, subscription))
            }
            for delivery in session.deliveries { writes.append(.saveDelivery(clientID: clientID, delivery)) }
            for packetID in session.inboundQoS2 {
                writes.append(.inboundQoS2(clientID: clientID, packetID: packetID, received: true))
            }
        }
        counts.sessions = state.sessions.count
        for offset in state.consumerOffsets { writes.append(.saveConsumerOffset(offset)) }
        counts.consumerOffsets = state.consumerOffsets.count

        // Streams keep their epochs and newest offsets (the partition row carries the newest offset even
        // when no message is left), so consumers and committed offsets resume across the move.
        for stream in state.streams {
            let name = stream.configuration.name
            writes.append(.saveStream(stream.configuration))
            for (index, partition) in stream.partitions.enumerated() {
                writes.append(
                    .saveStreamPartition(
                        stream: name, partition: index, epoch: partition.epoch, lastOffset: partition.lastOffset))
                // Loaded with their bodies: copied here; loaded as their index: `copy` reads them in batches.
                for message in partition.messages { writes.append(.appendStream(message)) }
                counts.streamMessages += partition.messages.count + partition.index.count
            }
        }
        counts.streams = state.streams.count
        for offset in state.streamConsumerOffsets { writes.append(.saveStreamConsumerOffset(offset)) }
        counts.streamConsumerOffsets = state.streamConsumerOffsets.count
        for collection in state.collections { writes.append(.saveCollection(collection)) }
        counts.collections = state.collections.count
        for record in state.records { writes.append(.saveRecord(record)) }
        counts.records = state.records.count
        return (writes, counts)
    }
}

extension StoredState {
    /// Nothing is kept.
    package var isEmpty: Bool {
        logs.isEmpty && retained.isEmpty && sessions.isEmpty && sessionMessages.isEmpty && consumerOffsets.isEmpty
            && queues.isEmpty && bindings.isEmpty && exchangeBindings.isEmpty && exchanges.isEmpty
            && queueMessages.isEmpty && streams.isEmpty && streamConsumerOffsets.isEmpty && collections.isEmpty
            && records.isEmpty
    }
}
