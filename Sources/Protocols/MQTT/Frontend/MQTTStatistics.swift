import Atomics

/// Counters behind the `$SYS/` topics (clients, messages, bytes), updated with relaxed atomics: one
/// increment per received or sent packet batch, read every `sysIntervalSeconds`.
final class MQTTStatistics: Sendable {
    let messagesReceived = ManagedAtomic<Int>(0)
    let messagesSent = ManagedAtomic<Int>(0)
    let bytesReceived = ManagedAtomic<Int>(0)
    let bytesSent = ManagedAtomic<Int>(0)
    let clientsConnected = ManagedAtomic<Int>(0)
}
