package import BusCore
import NIOConcurrencyHelpers
import NIOCore

/// One topic's log behind its own lock (appends from any loop, reads from any loop).
package final class HistoryLogBox: Sendable {
    private let log: NIOLockedValueBox<HistoryLog<BusMessage>>

    init(epoch: String, limits: HistoryLimits) {
        log = NIOLockedValueBox(HistoryLog(epoch: epoch, limits: limits))
    }

    /// Appends and returns the message stamped with its position.
    func append(_ message: BusMessage, now: UInt64) -> BusMessage {
        // A payload sliced from a read buffer (NATS, MQTT) would keep the whole buffer alive for as long
        // as the log keeps the message: such payloads are copied once, on the way into the log.
        let payload = message.payload
        let kept =
            payload.storageCapacity > 2 * payload.readableBytes + 512
            ? message.withPayload(ByteBuffer(buffer: payload)) : message
        return log.withLockedValue { log in
            log.append(bytes: payload.readableBytes, now: now) { kept.positioned(at: $0) }
        }
    }

    /// Runs `body` with the log locked (reads, and recovery's read-and-mark).
    package func withLog<T>(now: UInt64, _ body: (inout HistoryLog<BusMessage>) -> T) -> T {
        log.withLockedValue { log in
            log.trim(now: now)
            return body(&log)
        }
    }
}

/// Every topic log, created on first publish for topics the policy says keep history.
package final class HistoryStore: Sendable {
    package let policy: HistoryPolicy
    /// Most topic logs kept; past it, new topics keep no history (bounded memory whatever names clients use).
    package let maxLogs: Int
    private let logs = NIOLockedValueBox<[Topic: HistoryLogBox]>([:])
    private let makeEpoch: @Sendable () -> String

    package init(policy: HistoryPolicy, maxLogs: Int = 100_000, makeEpoch: @escaping @Sendable () -> String) {
        self.policy = policy
        self.maxLogs = maxLogs
        self.makeEpoch = makeEpoch
    }

    /// The topic's log, or nil when the topic keeps no history.
    package func log(for topic: Topic, create: Bool) -> HistoryLogBox? {
        guard let limits = policy.limits(for: topic) else { return nil }
        return logs.withLockedValue { logs in
            if let box = logs[topic] { return box }
            guard create, logs.count < maxLogs else { return nil }
            let box = HistoryLogBox(epoch: makeEpoch(), limits: limits)
            logs[topic] = box
            return box
        }
    }

    package var topicCount: Int { logs.withLockedValue { $0.count } }
}
