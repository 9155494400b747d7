package import BusCore
import NIOConcurrencyHelpers

/// The store kept in this process's memory: for tests (one instance outlives a `Bus`, which is how
/// restarts are simulated) and for `--storage memory` (nothing survives the process). Applies each
/// batch at once, under one lock, and completes it on the caller's thread.
package final class MemoryStore: Store {
    private struct Log {
        var epoch: String
        var lastOffset: UInt64 = 0
        var messages: [BusMessage] = []
    }

    private struct State {
        var logs: [Topic: Log] = [:]
        var logOrder: [Topic] = []
        var retained: [Topic: BusMessage] = [:]
        var sessions: [String: StoredSession] = [:]
        var sessionMessages: [UInt64: BusMessage] = [:]
        var consumerOffsets: [String: StoredConsumerOffset] = [:]
        var queues: [String: StoredQueue] = [:]
        var bindings: Set<StoredBinding> = []
        var exchangeBindings: Set<StoredExchangeBinding> = []
        var exchanges: [String: StoredExchange] = [:]
        var queueMessages: [String: [UInt64: StoredQueueMessage]] = [:]
        var streams: [String: StoredStream] = [:]
        var streamConsumerOffsets: [StoredStreamConsumerOffset: StoredStreamConsumerOffset] = [:]
        var collections: [String: StoredCollection] = [:]
        var records: [String: [String: StoredRecord]] = [:]
        var closed = false
        var statistics = StoreStatistics()
    }

    private let state = NIOLockedValueBox(State())

    package init() {}

    package func submit(_ writes: [StoreWrite], completion: (@Sendable ((any Error)?) -> Void)?) {
        let error: (any Error)? = state.withLockedValue { state in
            guard !state.closed else { return StoreError("the store is closed") }
            for write in writes { Self.apply(write, to: &state) }
            state.statistics.commits += 1
            state.statistics.committedWrites += UInt64(writes.count)
            return nil
        }
        completion?(error)
    }

    package func load(streamBodies: Bool) throws -> StoredState {
        state.withLockedValue { state in
            var stored = StoredState()
            stored.logs = state.logOrder.compactMap { topic in
                guard let log = state.logs[topic] else { return nil }
                return StoredLog(
                    topic: topic, epoch: log.epoch, lastOffset: log.lastOffset, messages: log.messages, intact: true)
            }
            stored.retained = state.retained.values.sorted { $0.topic.name < $1.topic.name }
            stored.sessions = state.sessions.values.sorted { $0.header.clientID < $1.header.clientID }
            stored.sessionMessages = state.sessionMessages.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            stored.consumerOffsets = state.consumerOffsets.values.sorted { ($0.group, $0.topic) < ($1.group, $1.topic) }
            stored.queues = state.queues.values.sorted { $0.name < $1.name }
            stored.bindings = state.bindings.sorted {
                ($0.exchange, $0.queue, $0.routingKey) < ($1.exchange, $1.queue, $1.routingKey)
            }
            stored.exchangeBindings = state.exchangeBindings.sorted {
                ($0.source, $0.destination, $0.routingKey) < ($1.source, $1.destination, $1.routingKey)
            }
            stored.exchanges = state.exchanges.values.sorted { $0.name < $1.name }
            stored.queueMessages = state.queueMessages.keys.sorted().flatMap { queue in
                state.queueMessages[queue]!.values.sorted { $0.id < $1.id }
            }
            // Appends from several loops may commit out of offset order; a load is in order.
            stored.streams = state.streams.keys.sorted().map { name in
                var stream = state.streams[name]!
                for index in stream.partitions.indices {
                    stream.partitions[index].messages.sort { $0.offset < $1.offset }
                    if !streamBodies {
                        stream.partitions[index].index = stream.partitions[index].messages.map(
                            StoredStreamIndexEntry.init)
                        stream.partitions[index].messages = []
                    }
                }
                return stream
            }
            stored.streamConsumerOffsets = state.streamConsumerOffsets.values.sorted {
                ($0.group, $0.stream, $0.partition) < ($1.group, $1.stream, $1.partition)
            }
            stored.collections = state.collections.values.sorted { $0.name < $1.name }
            stored.records = state.records.keys.sorted().flatMap { name in
                state.records[name]!.values.sorted { $0.id < $1.id }
            }
            return stored
        }
    }

    /// Marks the store closed; a test that simulates a restart keeps using the same instance and does not
    /// close it.
    package func close() {
        state.withLockedValue { $0.closed = true }
    }

    package var statistics: StoreStatistics { state.withLockedValue { $0.statistics } }

    private static func apply(_ write: StoreWrite, to state: inout State) {
        switch write {
        case .appendLog(let topic, let epoch, let message, let keep):
            if state.logs[topic] == nil { state.logOrder.append(topic) }
            var log = state.logs[topic] ?? Log(epoch: epoch)
            if log.epoch != epoch { log = Log(epoch: epoch) }
            log.lastOffset = max(log.lastOffset, message.offset)
            log.messages.append(message)
            if log.messages.count > keep { log.messages.removeFirst(log.messages.count - keep) }
            state.logs[topic] = log
        case .resetLog(let topic, let epoch):
            if state.logs[topic] == nil { state.logOrder.append(topic) }
            state.logs[topic] = Log(epoch: epoch)
        case .trimLogByAge(let topic, let before):
            state.logs[topic]?.messages.removeAll { $0.timestamp < before }
        case .retain(let topic, let message):
            state.retained[topic] = message
        case .saveSession(let header):
            if state.sessions[header.clientID] == nil {
                state.sessions[header.clientID] = StoredSession(header: header)
            } else {
                state.sessions[header.clientID]!.header = header
            }
        case .deleteSession(let clientID):
            state.sessions[clientID] = nil
        case .saveSubscription(let clientID, let subscription):
            guard state.sessions[clientID] != nil else { return }
            state.sessions[clientID]!.subscriptions.removeAll { $0.filter == subscription.filter }
            state.sessions[clientID]!.subscriptions.append(subscription)
            state.sessions[clientID]!.subscriptions.sort { $0.filter < $1.filter }
        case .deleteSubscription(let clientID, let filter):
            state.sessions[clientID]?.subscriptions.removeAll { $0.filter == filter }
        case .saveSessionMessage(let seq, let message):
            state.sessionMessages[seq] = message
        case .trimSessionMessages(let through):
            state.sessionMessages = state.sessionMessages.filter { $0.key > through }
            for clientID in state.sessions.keys { state.sessions[clientID]!.deliveries.removeAll { $0.seq <= through } }
        case .saveDelivery(let clientID, let delivery):
            guard state.sessions[clientID] != nil else { return }
            state.sessions[clientID]!.deliveries.removeAll { $0.seq == delivery.seq }
            state.sessions[clientID]!.deliveries.append(delivery)
            state.sessions[clientID]!.deliveries.sort { $0.seq < $1.seq }
        case .deleteDelivery(let clientID, let seq):
            state.sessions[clientID]?.deliveries.removeAll { $0.seq == seq }
        case .inboundQoS2(let clientID, let packetID, let received):
            guard state.sessions[clientID] != nil else { return }
            state.sessions[clientID]!.inboundQoS2.removeAll { $0 == packetID }
            if received {
                state.sessions[clientID]!.inboundQoS2.append(packetID)
                state.sessions[clientID]!.inboundQoS2.sort()
            }
        case .saveConsumerOffset(let offset):
            state.consumerOffsets[offset.group + "\u{0}" + offset.topic] = offset
        case .saveQueue(let queue):
            state.queues[queue.name] = queue
        case .deleteQueue(let name):
            state.queues[name] = nil
            state.bindings = state.bindings.filter { $0.queue != name }
            state.queueMessages[name] = nil
        case .saveBinding(let binding):
            state.bindings.insert(binding)
        case .deleteBinding(let binding):
            state.bindings.remove(binding)
        case .saveExchangeBinding(let binding):
            state.exchangeBindings.insert(binding)
        case .deleteExchangeBinding(let binding):
            state.exchangeBindings.remove(binding)
        case .saveExchange(let exchange):
            state.exchanges[exchange.name] = exchange
        case .deleteExchange(let name):
            state.exchanges[name] = nil
            state.bindings = state.bindings.filter { $0.exchange != name }
            state.exchangeBindings = state.exchangeBindings.filter { $0.source != name && $0.destination != name }
        case .saveQueueMessage(let message):
            state.queueMessages[message.queue, default: [:]][message.id] = message
        case .deleteQueueMessages(let queue, let ids):
            for id in ids { state.queueMessages[queue]?[id] = nil }
        case .markQueueMessagesDelivered(let queue, let ids):
            for id in ids { state.queueMessages[queue]?[id]?.redelivered = true }
        case .notify:
            // No other instance shares a memory store.
            break
        case .saveStream, .deleteStream, .saveStreamPartition, .appendStream, .trimStream, .deleteStreamMessages,
            .saveStreamConsumerOffset:
            applyStream(write, to: &state)
        case .saveCollection(let collection):
            state.collections[collection.name] = collection
        case .deleteCollection(let name):
            state.collections[name] = nil
            state.records[name] = nil
        case .saveRecord(let record):
            guard state.collections[record.collection] != nil else { return }
            state.records[record.collection, default: [:]][record.id] = record
        case .deleteRecord(let collection, let id):
            state.records[collection]?[id] = nil
        }
    }

    private static func applyStream(_ write: StoreWrite, to state: inout State) {
        switch write {
        case .saveStream(let configuration):
            if state.streams[configuration.name] == nil {
                state.streams[configuration.name] = StoredStream(configuration: configuration, partitions: [])
            } else {
                state.streams[configuration.name]!.configuration = configuration
            }
        case .deleteStream(let name):
            state.streams[name] = nil
            state.streamConsumerOffsets = state.streamConsumerOffsets.filter { $0.key.stream != name }
        case .saveStreamPartition(let stream, let partition, let epoch, let lastOffset):
            guard state.streams[stream] != nil else { return }
            while state.streams[stream]!.partitions.count <= partition {
                state.streams[stream]!.partitions.append(StoredStreamPartition(epoch: epoch, lastOffset: 0))
            }
            state.streams[stream]!.partitions[partition] = StoredStreamPartition(epoch: epoch, lastOffset: lastOffset)
        case .appendStream(let message):
            guard let count = state.streams[message.stream]?.partitions.count, message.partition < count else {
                return
            }
            // Kept in offset order (appends from several loops may commit out of it), so a read can search.
            let messages = state.streams[message.stream]!.partitions[message.partition].messages
            if let newest = messages.last, newest.offset >= message.offset {
                let position = Self.firstIndex(in: messages, atOrAfter: message.offset + 1)
                state.streams[message.stream]!.partitions[message.partition].messages.insert(message, at: position)
            } else {
                state.streams[message.stream]!.partitions[message.partition].messages.append(message)
            }
            let last = state.streams[message.stream]!.partitions[message.partition].lastOffset
            state.streams[message.stream]!.partitions[message.partition].lastOffset = max(last, message.offset)
        case .trimStream(let stream, let partition, let before):
            guard let count = state.streams[stream]?.partitions.count, partition < count else { return }
            let gone = Self.firstIndex(in: state.streams[stream]!.partitions[partition].messages, atOrAfter: before)
            state.streams[stream]!.partitions[partition].messages.removeFirst(gone)
        case .deleteStreamMessages(let stream, let partition, let offsets):
            guard let count = state.streams[stream]?.partitions.count, partition < count else { return }
            let gone = Set(offsets)
            state.streams[stream]!.partitions[partition].messages.removeAll { gone.contains($0.offset) }
        case .saveStreamConsumerOffset(let offset):
            var key = offset
            key.epoch = ""
            key.offset = 0
            state.streamConsumerOffsets[key] = offset
        default:
            break
        }
    }

    /// The position of the first of `messages` (in offset order) at or after `offset`.
    private static func firstIndex(in messages: [StoredStreamMessage], from start: Int = 0, atOrAfter offset: UInt64)
        -> Int
    {
        var low = start
        var high = messages.count
        while low < high {
            let middle = (low + high) / 2
            if messages[middle].offset < offset { low = middle + 1 } else { high = middle }
        }
        return low
    }

    package func readStream(
        _ stream: String, partition: Int, offsets: [UInt64],
        completion: @escaping @Sendable (Result<[StoredStreamMessage], any Error>) -> Void
    ) {
        let found: [StoredStreamMessage] = state.withLockedValue { state in
            guard let partitions = state.streams[stream]?.partitions, partition < partitions.count else { return [] }
            let messages = partitions[partition].messages
            var found: [StoredStreamMessage] = []
            found.reserveCapacity(offsets.count)
            var position = 0
            for offset in offsets {
                // Ascending offsets: search on from the last one found.
                position = Self.firstIndex(in: messages, from: position, atOrAfter: offset)
                guard position < messages.count else { break }
                if messages[position].offset == offset { found.append(messages[position]) }
            }
            return found
        }
        completion(.success(found))
    }
}
