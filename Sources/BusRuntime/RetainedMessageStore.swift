package import BusCore
import NIOConcurrencyHelpers
import NIOCore

/// The last retained message of each topic (MQTT retained messages; a "current value" any protocol can
/// read). Bounded by `maxTopics`; behind one lock taken on retain, clear and subscribe — never per
/// delivered message. Kept behind this small interface so durable storage can replace it.
package final class RetainedMessageStore: Sendable {
    private let messages = NIOLockedValueBox<[String: BusMessage]>([:])
    /// Most topics with a retained message; past it new topics are refused (MQTT: PUBACK 0x97).
    package let maxTopics: Int

    package init(maxTopics: Int = 100_000) {
        self.maxTopics = maxTopics
    }

    /// Stores `message` as its topic's retained message, or clears it when the payload is empty
    /// ([MQTT-3.3.1-6], [MQTT-3.3.1-7]). False when the store is full.
    @discardableResult
    package func retain(_ message: BusMessage) -> Bool {
        messages.withLockedValue { messages in
            if message.payload.readableBytes == 0 {
                messages[message.topic.name] = nil
                return true
            }
            guard messages[message.topic.name] != nil || messages.count < maxTopics else { return false }
            messages[message.topic.name] = message
            return true
        }
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
