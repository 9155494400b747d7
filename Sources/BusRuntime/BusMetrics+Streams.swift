import BusCore
import Metrics
import NIOConcurrencyHelpers
package import NIOCore

/// Per-stream gauges and counters (`stream="<name>"`), fed once a second from the registry.
final class StreamMetrics: Sendable {
    private struct Series {
        let messages: Gauge
        let bytes: Gauge
        let appends: Counter
        var reportedAppends: UInt64 = 0
    }

    private let series = NIOLockedValueBox<[String: Series]>([:])

    /// Records each stream's messages, bytes and new appends; a stream that is gone reads 0.
    func report(_ streams: [StreamInfo]) {
        series.withLockedValue { series in
            var seen: Set<String> = []
            for info in streams {
                let name = info.configuration.name
                seen.insert(name)
                var entry =
                    series[name]
                    ?? Series(
                        messages: Gauge(label: "switchboard_stream_messages", dimensions: [("stream", name)]),
                        bytes: Gauge(label: "switchboard_stream_bytes", dimensions: [("stream", name)]),
                        appends: Counter(label: "switchboard_stream_appends_total", dimensions: [("stream", name)]))
                entry.messages.record(info.messages)
                entry.bytes.record(info.bytes)
                let appends = info.appends
                if appends > entry.reportedAppends {
                    entry.appends.increment(by: Int64(appends - entry.reportedAppends))
                }
                entry.reportedAppends = appends
                series[name] = entry
            }
            for (name, entry) in series where !seen.contains(name) {
                entry.messages.record(0)
                entry.bytes.record(0)
                // A stream created again under this name counts its appends from 0.
                series[name]!.reportedAppends = 0
            }
        }
    }
}

extension Bus {
    /// Once every `interval`: streams drop what aged out, and their metrics are reported (the caller
    /// cancels the task at shutdown).
    package func startStreamHousekeeping(every interval: TimeAmount = .seconds(1)) -> [RepeatedTask] {
        guard let loop = shards.first?.eventLoop else { return [] }
        return [
            loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                self.streams.trimAll(now: self.clock())
                self.metrics.streams.report(self.streams.list().map(\.info))
            }
        ]
    }
}
