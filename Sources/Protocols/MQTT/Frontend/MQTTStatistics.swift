import Atomics

/// Counters behind the `$SYS/` topics (clients, messages, bytes), updated with relaxed atomics: one
/// increment per flush per connection (not per packet), read every `sysIntervalSeconds`.
final class MQTTStatistics: Sendable {
    let messagesReceived = ManagedAtomic<Int>(0)
    let messagesSent = ManagedAtomic<Int>(0)
    let bytesReceived = ManagedAtomic<Int>(0)
    let bytesSent = ManagedAtomic<Int>(0)
    let clientsConnected = ManagedAtomic<Int>(0)

    /// One connection's counts since its last flush.
    struct Pending {
        var messagesReceived = 0
        var messagesSent = 0
        var bytesReceived = 0
        var bytesSent = 0
    }

    func add(_ pending: inout Pending) {
        if pending.messagesReceived > 0 {
            messagesReceived.wrappingIncrement(by: pending.messagesReceived, ordering: .relaxed)
        }
        if pending.messagesSent > 0 { messagesSent.wrappingIncrement(by: pending.messagesSent, ordering: .relaxed) }
        if pending.bytesReceived > 0 { bytesReceived.wrappingIncrement(by: pending.bytesReceived, ordering: .relaxed) }
        if pending.bytesSent > 0 { bytesSent.wrappingIncrement(by: pending.bytesSent, ordering: .relaxed) }
        pending = Pending()
    }
}
