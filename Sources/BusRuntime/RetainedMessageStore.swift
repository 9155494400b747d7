package import BusCore
import NIOConcurrencyHelpers
import NIOCore
package import Storage

/// The last retained message of each topic (MQTT retained messages; a "current value" any protocol can
/// read). Bounded by `maxTopics`; behind one lock taken on retain, clear and subscribe — never per
/// delivered message. Kept behind this small interface so durable storage can replace it.
package final class RetainedMessageStore: Sendable {
    private let messages = NIOLockedValueBox<[String: BusMessage]>([:])
    /// Most topics with a retained message; past it new topics are refused (MQTT: PUBACK 0x97).
    package let maxTopics: Int
    /// Where retained messages are kept across restarts (nil: memory only).
    private let store: (any Store)?
    /// Told of each change made here (an engine shares them with other instances); `$SYS/` aside.
    private let observer = NIOLockedValueBox<(@Sendable (BusMessage) -> Void)?>(nil)

    /// Topics another instance sharing the store changed, read again one batch at a time.
    private let changedTopics = NIOLockedValueBox((pending: Set<String>(), reading: false))

    package init(maxTopics: Int = 100_000, store: (any Store)? = nil) {
        self.maxTopics = maxTopics
        self.store = store
        if let sharing = store?.sessionOwnership {
            sharing.listen(StoreOwnedResource.retainedChannel) { [self] topic in changed(topic, sharing) }
            // Notifications missed while the listening connection was down: every topic is read again.
            sharing.onListenResumed { [self] in
                sharing.loadNames(.retainedTopics) { [self] result in
                    var topics = Set(messages.withLockedValue { Array($0.keys) })
                    if case .success(let stored) = result { topics.formUnion(stored) }
                    for topic in topics { changed(topic, sharing) }
                }
            }
        }
    }

    // MARK: - Several instances on one database

    /// A retained message changed in the database (announced in the transaction that wrote it, by any
    /// instance sharing it, this one too): this copy takes the topic's row as the database holds it now,
    /// so of two instances retaining on one topic at once both keep whichever committed last. One read at
    /// a time, of every topic announced until it starts.
    private func changed(_ topic: String, _ sharing: any StoreSessionOwnership) {
        let start = changedTopics.withLockedValue { state -> Bool in
            state.pending.insert(topic)
            guard !state.reading else { return false }
            state.reading = true
            return true
        }
        if start { readChanged(sharing) }
    }

    private func readChanged(_ sharing: any StoreSessionOwnership) {
        let topics = changedTopics.withLockedValue { state -> [String] in
            defer { state.pending.removeAll() }
            return Array(state.pending)
        }
        sharing.loadRetained(topics) { [self] result in
            switch result {
            case .success(let found):
                messages.withLockedValue { messages in
                    for topic in topics {
                        if let message = found[topic] {
                            guard messages[topic] != nil || messages.count < maxTopics else { continue }
                            messages[topic] = message
                        } else {
                            messages[topic] = nil
                        }
                    }
                }
            case .failure:
                // Read with the next change (or not at all: this copy stays as it was).
                changedTopics.withLockedValue { $0.pending.formUnion(topics) }
            }
            let again = changedTopics.withLockedValue { state -> Bool in
                if state.pending.isEmpty || result.isFailure {
                    state.reading = false
                    return false
                }
                return true
            }
            if again { readChanged(sharing) }
        }
    }

    /// Takes back what the store kept (at startup, before clients connect).
    package func restore(_ stored: [BusMessage]) {
        messages.withLockedValue { messages in
            for message in stored where messages.count < maxTopics { messages[message.topic.name] = message }
        }
    }

    /// Stores `message` as its topic's retained message, or clears it when the payload is empty
    /// ([MQTT-3.3.1-6], [MQTT-3.3.1-7]). False when the store is full. The change is written through to
    /// the durable store unless `persist` is false (the caller stored it already, before acknowledging).
    @discardableResult
    package func retain(_ message: BusMessage, persist: Bool = true) -> Bool {
        guard keep(message, persist: persist) else { return false }
        if !message.topic.name.hasPrefix("$SYS/"), let observer = observer.withLockedValue({ $0 }) {
            observer(message)
        }
        return true
    }

    /// A change another instance made (through an engine): kept and stored here, told to nobody.
    package func applyRemote(_ message: BusMessage) {
        keep(message, persist: true)
    }

    /// Calls `observer` with each change made on this instance from now on.
    package func observeLocalChanges(_ observer: @escaping @Sendable (BusMessage) -> Void) {
        self.observer.withLockedValue { $0 = observer }
    }

    @discardableResult
    private func keep(_ message: BusMessage, persist: Bool) -> Bool {
        let accepted: Bool = messages.withLockedValue { messages in
            if message.payload.readableBytes == 0 {
                messages[message.topic.name] = nil
                return true
            }
            guard messages[message.topic.name] != nil || messages.count < maxTopics else { return false }
            // Kept for long: a payload sliced from a large read buffer is copied (see HistoryLogBox).
            let payload = message.payload
            messages[message.topic.name] =
                payload.storageCapacity > 2 * payload.readableBytes + 512
                ? message.withPayload(ByteBuffer(buffer: payload)) : message
            return true
        }
        guard accepted else { return false }
        // `$SYS/` statistics are recomputed by the server, not state worth keeping.
        if let store, persist, !message.topic.name.hasPrefix("$SYS/") {
            let kept = message.payload.readableBytes == 0 ? nil : message
            store.submit([.retain(topic: message.topic, message: kept)])
        }
        return true
    }

    /// Retained messages whose topic matches `filter` and that have not expired at `now` (ns).
    /// A linear scan: retained topics are few compared with publishes, and this runs once per subscribe.
    package func matching(_ filter: TopicFilter, now: UInt64) -> [BusMessage] {
        let snapshot = messages.withLockedValue { $0 }
        return snapshot.values.filter { message in
            if let expiry = message.headers.expiresAt, expiry <= now { return false }
            return filter.matches(message.topic)
        }.sorted { $0.topic.name < $1.topic.name }
    }

    package var count: Int { messages.withLockedValue { $0.count } }
}

extension Result {
    fileprivate var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}
