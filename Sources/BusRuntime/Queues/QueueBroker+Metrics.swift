import Metrics
package import NIOConcurrencyHelpers
package import NIOCore

/// Queue depths as metrics, per queue: `switchboard_queue_messages_ready`,
/// `switchboard_queue_messages_unacknowledged` and `switchboard_queue_consumers` with the labels `queue`
/// and `vhost` (RabbitMQ's Prometheus plugin exports the same three per queue). Each queue is read on its own loop
/// once per interval; a deleted queue's gauges are removed.
extension QueueBroker {
    /// Samples every queue each `interval` (the caller cancels the task at shutdown).
    package func startDepthReporting(on loop: any EventLoop, every interval: TimeAmount = .seconds(1))
        -> [RepeatedTask]
    {
        let gauges = QueueDepthGauges(virtualHost: virtualHost)
        return [
            loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
                let hosts = queues
                gauges.keep(Set(hosts.map(\.name)))
                for host in hosts {
                    host.eventLoop.execute {
                        gauges.record(
                            host.name, ready: host.readyCount, unacknowledged: host.unackedCount,
                            consumers: host.consumerCount)
                    }
                }
            }
        ]
    }
}

/// The three gauges of each queue, made on first sight and destroyed when the queue is gone.
final class QueueDepthGauges: Sendable {
    private struct Gauges {
        let ready: Gauge
        let unacknowledged: Gauge
        let consumers: Gauge
    }

    private let gauges = NIOLockedValueBox<[String: Gauges]>([:])
    private let virtualHost: String

    init(virtualHost: String) {
        self.virtualHost = virtualHost
    }

    func record(_ queue: String, ready: Int, unacknowledged: Int, consumers: Int) {
        let entry = gauges.withLockedValue { gauges in
            if let entry = gauges[queue] { return entry }
            let dimensions = [("queue", queue), ("vhost", virtualHost)]
            let entry = Gauges(
                ready: Gauge(label: "switchboard_queue_messages_ready", dimensions: dimensions),
                unacknowledged: Gauge(label: "switchboard_queue_messages_unacknowledged", dimensions: dimensions),
                consumers: Gauge(label: "switchboard_queue_consumers", dimensions: dimensions))
            gauges[queue] = entry
            return entry
        }
        entry.ready.record(ready)
        entry.unacknowledged.record(unacknowledged)
        entry.consumers.record(consumers)
    }

    /// Drops the gauges of queues not in `names`.
    func keep(_ names: Set<String>) {
        let gone = gauges.withLockedValue { gauges in
            let gone = gauges.filter { !names.contains($0.key) }
            for name in gone.keys { gauges[name] = nil }
            return Array(gone.values)
        }
        for entry in gone {
            entry.ready.destroy()
            entry.unacknowledged.destroy()
            entry.consumers.destroy()
        }
    }
}
